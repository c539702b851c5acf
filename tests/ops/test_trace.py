"""Delivery receipts: `tracking-worker trace` and `tracking_worker.receipt()` against a real
worker, Redis and the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import redis

from tests.helpers import wait_for
from tests.ops.support import cli
from tests.system import System
from tracking_worker.keys import RECEIPT_BUCKET_SECONDS, Keys
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.receipts import receipt_of


def trace(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracking_worker.cli", "trace", *args],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_receipt_per_provider_from_pending_to_delivered_or_dead(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    sandbox.reject_matching("graspil", "user_id", 7)
    system = make_system(
        providers=["graspil", "grampixel", "giosg"], delivery={"flush_interval": 2}
    )
    good = system.tracker.track("purchase", telegram_id=5, value=1.0, currency="USD")
    bad = system.tracker.track("purchase", telegram_id=7, value=1.0, currency="USD")
    first = receipt_of(system.tracker.client, system.settings, good)  # a partial batch waits
    assert first["graspil"]["state"] == first["grampixel"]["state"] == "pending"
    # giosg cannot take it, and its receipt (written by the enqueue) says why
    assert first["giosg"]["state"] == "skipped"
    assert first["giosg"]["reason"] == "no visitor_id (giosg visitor_identity)"
    assert first["graspil"]["attempts"] == 0 and first["graspil"]["updated_at"] > 0
    # pending: found in the list, no receipt written; only giosg's skip has one
    assert {k.decode().split(":")[1] for k in redis_client.keys("*receipt*")} == {"{giosg}"}
    wait_for(lambda: system.settled("graspil", 2) and system.settled("grampixel", 2), 30)

    done = json.loads(trace(system, good, "--json").stdout)
    assert done["graspil"]["state"] == done["grampixel"]["state"] == "delivered"
    assert done["graspil"]["attempts"] == 1 and done["giosg"]["state"] == "skipped"
    assert "no visitor_id" in trace(system, good).stdout  # the table's detail column
    dead = json.loads(trace(system, bad, "--json").stdout)
    assert dead["graspil"]["state"] == "dead" and "Graspil" in dead["graspil"]["reason"]
    assert dead["grampixel"]["state"] == "delivered"
    table = trace(system, bad)
    assert table.returncode == 0 and "dead" in table.stdout and "delivered" in table.stdout

    unknown = trace(system, "no-such-event")
    assert unknown.returncode == 1 and unknown.stderr.startswith("tracking-worker: no receipt")
    ttl = system.settings.delivery.receipts_ttl
    for bucket in redis_client.keys(f"{Keys('graspil').receipts_prefix}*"):
        # kept receipts_ttl after its bucket ends: never more than that and one bucket
        assert 0 < redis_client.pttl(bucket) <= (ttl + RECEIPT_BUCKET_SECONDS) * 1000


def test_receipts_can_be_turned_off(
    make_system: Callable[..., System], redis_client: redis.Redis
) -> None:
    system = make_system(
        providers=["graspil", "grampixel"], delivery={"receipts_ttl": 0, "flush_interval": 2}
    )
    first = system.tracker.track("purchase", telegram_id=5, value=1.0, currency="USD")
    # Still pending (a partial batch waits): found in the list even with receipts off.
    assert receipt_of(system.tracker.client, system.settings, first)["graspil"]["state"] == (
        "pending"
    )
    wait_for(lambda: system.settled("graspil", 1) and system.settled("grampixel", 1), 30)
    assert receipt_of(system.tracker.client, system.settings, first) == {}
    assert not redis_client.keys("*receipt*")


def test_an_event_replayed_from_the_dead_letters_reads_pending_then_delivered(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.reject_matching("graspil", "user_id", 7)
    system = make_system(providers=["graspil"])
    bad = system.tracker.track("purchase", telegram_id=7, value=1.0, currency="USD")
    wait_for(lambda: system.settled("graspil", 1), 30, message=system.log())
    assert json.loads(trace(system, bad, "--json").stdout)["graspil"]["state"] == "dead"
    assert system.beat is not None
    system.beat.kill()  # the replayed event waits in pending until `tick` below
    sandbox.reset()  # the cause is fixed

    replayed = cli(system.env, "dlq", "replay")
    assert replayed.stdout.strip() == "1 dead letter(s) of graspil moved back to pending"
    queued = json.loads(trace(system, bad, "--json").stdout)["graspil"]
    assert (queued["state"], queued["attempts"]) == ("pending", 0)
    assert "reason" not in queued

    assert "deliveries started" in cli(system.env, "tick").stdout
    wait_for(lambda: system.counts("graspil")["delivered"] == 1, 30, message=system.log())
    done = json.loads(trace(system, bad, "--json").stdout)["graspil"]
    assert (done["state"], done["attempts"]) == ("delivered", 1)
