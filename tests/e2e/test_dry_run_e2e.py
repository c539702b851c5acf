"""A dry run (``delivery.mode = "dry_run"``) through Redis and a real Celery worker: every
request rendered, logged and recorded, none sent to the sandbox; per provider, the others keep
sending."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.test_providers_e2e import event
from tests.helpers import wait_for
from tests.ops.support import ALL, cli
from tests.system import System
from tracking_worker.ops.exporter import families
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.receipts import receipt_of
from tracking_worker.store.status import collect

EVENTS = 12
#: Real-looking keys: what a first rollout runs with. A dry run never sends them, so the
#: sandbox need not accept them; they must never show in a log line or a command's output.
LIVE_KEYS = {
    "graspil": {"api_key": "live-graspil-key-4f7a"},
    "vibetrace": {"api_key": "live-vibetrace-key-91c2"},
}


def test_a_dry_run_worker_sends_nothing_and_records_every_event(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(delivery={"mode": "dry_run"}, provider_overrides=LIVE_KEYS)
    ids = system.tracker.track_many([event(n) for n in range(1, EVENTS + 1)])
    for provider in ALL:
        wait_for(lambda p=provider: system.counts(p)["dry_run"] == EVENTS, 30, message=system.log())
    assert sandbox.requests() == []
    for provider in ALL:
        counts = system.counts(provider)
        assert (counts["delivered"], counts["requests"], counts["dead"]) == (0, 0, 0), provider
        assert (counts["pending"], counts["leased_batches"], counts["retry_batches"]) == (0, 0, 0)
    for event_id in ids[:2]:
        receipts = receipt_of(system.tracker.client, system.settings, event_id)
        assert {p: r["state"] for p, r in receipts.items()} == dict.fromkeys(ALL, "dry_run")
    status = json.loads(cli(system.env, "status", "--json").stdout)
    assert {p: status[p]["dry_run"] for p in ALL} == dict.fromkeys(ALL, EVENTS)
    [events] = [
        m
        for m in families(collect(system.settings, system.tracker.client), system.settings)
        if m.name == "tracking_worker_events"
    ]
    dry = {
        s.labels["provider"]: s.value for s in events.samples if s.labels["outcome"] == "dry_run"
    }
    assert dry == dict.fromkeys(ALL, EVENTS)
    trace = cli(system.env, "trace", ids[0])
    assert trace.returncode == 0 and trace.stdout.count(" dry_run ") == len(ALL), trace.stdout
    log = (system.home / "worker.log").read_text()
    assert f"dry run of {', '.join(ALL)}: requests are logged, never sent" in log
    assert "graspil: dry run: 12 event(s) as 1 request(s), not sent: POST " in log
    assert "grampixel: dry run:" in log and '"Api-Key":"[redacted]"' in log
    for keys in LIVE_KEYS.values():
        assert keys["api_key"] not in log + trace.stdout


def test_a_dry_run_of_one_provider_leaves_the_others_sending(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(
        providers=["graspil", "grampixel"], provider_overrides={"graspil": {"mode": "dry_run"}}
    )
    system.tracker.track_many([event(n) for n in range(1, EVENTS + 1)])
    wait_for(lambda: system.counts("graspil")["dry_run"] == EVENTS, 30, message=system.log())
    wait_for(lambda: system.settled("grampixel", EVENTS), 30, message=system.log())
    assert sandbox.requests("graspil") == []
    assert len(sandbox.received("grampixel")) == EVENTS
    assert (system.counts("grampixel")["delivered"], system.counts("grampixel")["dry_run"]) == (
        EVENTS,
        0,
    )
