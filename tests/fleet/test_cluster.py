"""The event store on a three-master Redis Cluster, Celery's broker on a plain Redis beside it
(``redis.cluster``, ``redis.broker_url``): track(), track_many() and atrack() enqueue each
provider's part on the node of its slot, a real Celery worker and beat deliver every event to
the sandbox exactly once, and no transaction reaches a node."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.fleet.stream import PROVIDERS, Stream, drained, purchase, received
from tests.helpers import pause_until, wait_for
from tests.ops.support import cli
from tests.system import System
from tracking_worker.devtools import EmbeddedCluster
from tracking_worker.keys import Keys
from tracking_worker.ops.exporter import registry
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.connection import scrape_client
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import DeadEvent, ProviderQueue, Settlement


@dataclass(frozen=True)
class Plan:
    #: track() calls a second, for ``seconds``, then track_many() and atrack() batches.
    rate: float
    seconds: float
    many: int
    awaited: int


PLANS = [
    pytest.param(Plan(50, 1.0, 100, 20), id="fast"),
    pytest.param(Plan(100, 15.0, 200, 100), id="stream", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("plan", PLANS)
def test_the_cluster_delivers_every_event_once(
    plan: Plan, cluster: EmbeddedCluster, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(redis_url=cluster.nodes[0].url, redis=cluster.settings())
    start = time.monotonic()
    stream = Stream(system.tracker, plan.rate).start()
    pause_until(start + plan.seconds)
    stream.stop()
    first = len(stream.tracked) + 1
    many = range(first, first + plan.many)
    system.tracker.track_many([{"name": "purchase", **purchase(n)} for n in many])
    awaited = range(first + plan.many, first + plan.many + plan.awaited)

    async def more() -> None:
        async with AsyncTracker(tracker=system.tracker) as tracker:
            await tracker.track_many([{"name": "purchase", **purchase(n)} for n in awaited[:5]])
            for n in awaited[5:]:
                await tracker.track("purchase", **purchase(n))

    asyncio.run(more())
    wait_for(lambda: drained(system), 30, message="what the calls spooled goes to Redis")
    tracked = set(range(1, awaited.stop))
    for provider in PROVIDERS:
        wait_for(lambda p=provider: system.settled(p, len(tracked)), 60, message=system.log())
    figures = {provider: _figures(received(sandbox, provider), tracked) for provider in PROVIDERS}
    print(f"cluster, {len(tracked)} events in {time.monotonic() - start:.1f}s: {figures}")
    assert all(f == (len(tracked), 0, 0, 0) for f in figures.values()), figures
    holders = {cluster.holder(Keys(p).stats).port for p in PROVIDERS}
    assert len(holders) == 3, "the providers' slots are spread over the three masters"
    for node in cluster.nodes:  # each provider's enqueue stood alone: no MULTI on any node
        with node.client() as client:
            assert "cmdstat_multi" not in client.info("commandstats"), node.port


def _figures(counts: dict[int, int], tracked: set[int]) -> tuple[int, int, int, int]:
    """(delivered once, lost, duplicated, unknown) of one provider."""
    once = sum(1 for n in tracked if counts.get(n) == 1)
    lost = sum(1 for n in tracked if n not in counts)
    duplicated = sum(c - 1 for n, c in counts.items() if n in tracked and c > 1)
    return once, lost, duplicated, len(set(counts) - tracked)


def test_the_commands_work_on_the_cluster(
    cluster: EmbeddedCluster, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """check, status, dlq, trace, circuit, suppress and forget, and the exporter, as an
    operator runs them against the cluster (no worker: the dead letter is settled here)."""
    system = System(
        tmp_path / "system", cluster.nodes[0].url, sandbox.url, redis=cluster.settings()
    )
    try:
        ids = system.tracker.track_many([{"name": "purchase", **purchase(n)} for n in range(1, 6)])
        receipts = system.settings.delivery.receipts_ttl
        queue = ProviderQueue(
            system.tracker.client, Scripts(), Keys("graspil"), receipts_ttl=receipts
        )
        batch = queue.claim(lease=30, size=1, flush=True, wait=0)
        assert batch is not None
        dead = DeadEvent(batch.events[0], "refused by the test", "rejected", 400)
        assert queue.settle(batch, Settlement(dead=[dead]))
        env = system.env

        checked = cli(env, "check", "--json")
        assert json.loads(checked.stdout) == {
            "ok": True,
            "providers": list(PROVIDERS),
            "optional_refused": [],
        }, checked.stderr
        status = _json(cli(env, "status", "--json"))
        assert (status["graspil"]["dead"], status["graspil"]["pending"]) == (1, 4)
        assert {status[p]["enqueued"] for p in PROVIDERS} == {5}
        letters = [json.loads(line) for line in _ok(cli(env, "dlq", "list", "--json")).splitlines()]
        assert [(e["provider"], e["reason"]) for e in letters] == [
            ("graspil", "refused by the test")
        ]
        traced = _json(cli(env, "trace", ids[0], "--json"))
        assert (traced["graspil"]["state"], traced["grampixel"]["state"]) == ("dead", "pending")
        assert "closed" in _ok(cli(env, "circuit", "show", "graspil"))
        replayed = _ok(cli(env, "dlq", "replay", "--provider", "graspil"))
        assert "1 dead letter(s) of graspil moved back to pending" in replayed
        _ok(cli(env, "suppress", "add", "--email", "fleet-9@example.test"))
        assert "1" in _ok(cli(env, "suppress", "list"))
        system.tracker.track("purchase", **purchase(9))
        _ok(cli(env, "forget", "--email", "fleet-3@example.test"))
        status = _json(cli(env, "status", "--json"))
        for provider in PROVIDERS:  # event 1 back, event 3 forgotten, event 9 dropped
            shown = status[provider]
            assert (shown["pending"], shown["dead"], shown["suppressed"]) == (4, 0, 1), provider
        scrape = generate_latest(registry(system.settings, scrape_client(system.settings)))
        assert b"tracking_worker_up 1.0" in scrape
        assert b'tracking_worker_events_total{outcome="suppressed",provider="giosg"} 1.0' in scrape
    finally:
        system.stop()


def test_check_refuses_a_cluster_node_given_as_a_plain_url(
    cluster: EmbeddedCluster, sandbox: SandboxServer, tmp_path: Path
) -> None:
    system = System(tmp_path / "system", cluster.nodes[1].url, sandbox.url)
    try:
        checked = cli(system.env, "check", "--json")
    finally:
        system.stop()
    assert checked.returncode == 1
    error = json.loads(checked.stdout)["error"]
    assert "redis.url is a node of a Redis Cluster" in error
    assert "set redis.cluster = true, and redis.broker_url" in error


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_ok(done))
    return found
