"""A plain ``redis.url`` to an endpoint that fails over (a managed Redis, a DNS name, a proxy):
the old master is demoted under a running worker and beat while web requests go on, and the
endpoint then leads to the new one. Connections made before stay with the demoted node and get
READONLY (or NOREPLICAS, from a master that lost its replica under ``min-replicas-to-write``);
every client drops them and reconnects, through the endpoint, to the new master: the worker and
beat never die, deliveries resume, and no event is lost (refused writes are spooled).

Replication is asynchronous: an event the old master acknowledged in the instant before the
replica was promoted may never have reached it. With ``redis.wait_replicas = 1`` (what a managed
Redis with ``min-replicas-to-write`` is for) such an enqueue comes back unreplicated and is
counted; that count bounds what may be missing, and nothing else may be."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fleet.proxy import Endpoint
from tests.fleet.stream import Stream, accepted, drained, received
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.sandbox import SandboxServer

PROVIDERS = ["graspil", "grampixel"]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    """A master that refuses writes without its replica (as a managed one is configured), and
    the replica."""
    nodes = (EmbeddedRedis(tmp_path / "a").start(), EmbeddedRedis(tmp_path / "b").start())
    nodes[1].follow(nodes[0])
    admin = nodes[0].client()
    admin.config_set("min-replicas-to-write", 1)
    admin.close()
    yield nodes
    for node in nodes:
        node.stop()


def test_a_failover_behind_one_address(
    pair: tuple[EmbeddedRedis, EmbeddedRedis],
    make_system: Callable[..., System],
    sandbox: SandboxServer,
) -> None:
    old, new = pair
    endpoint = Endpoint(old.port).start()
    try:
        system = make_system(
            providers=PROVIDERS,
            redis_url=endpoint.url,
            redis={"wait_replicas": 1},
            delivery={"lease_seconds": 10.0},
            provider_overrides={p: {"read_timeout": 5.0} for p in PROVIDERS},
        )
        assert system.worker is not None and system.beat is not None
        pids = (system.worker.pid, system.beat.pid)
        system.wait_worker_ready()
        stream = Stream(system.tracker, 50).start()
        pause_until(time.monotonic() + 1.0)
        new.follow(None)  # promoted: the old master has no replica now and refuses writes
        old.follow(new)  # demoted: READONLY to everyone still connected to it
        endpoint.switch(new.port)
        switched = time.time()
        pause_until(time.monotonic() + 2.0)
        stream.stop()
        wait_for(lambda: drained(system), 30, message="the spool drained into the new master")
        unreplicated = system.tracker.intake.replication.unreplicated
        for provider in PROVIDERS:
            wait_for(
                lambda p=provider: (
                    len(set(stream.tracked) - set(received(sandbox, p))) <= unreplicated
                ),
                40,
                message=f"{provider} got every replicated event\n{system.log()}",
            )
        print(f"managed endpoint: {unreplicated} enqueue(s) acknowledged unreplicated")
        assert (system.worker.pid, system.beat.pid) == pids
        assert system.worker.alive and system.beat.alive, system.log()
        after = [
            min(t for t, ids in accepted_after(sandbox, p, stream.tracked, switched))
            for p in PROVIDERS
        ]
        print(f"managed endpoint: delivery resumed {max(after) - switched:.2f}s after the switch")
        assert "Unrecoverable error" not in system.log()
    finally:
        endpoint.stop()


def accepted_after(
    sandbox: SandboxServer, provider: str, tracked: dict[int, float], moment: float
) -> list[tuple[float, list[int]]]:
    return [
        (t, ids)
        for t, ids in accepted(sandbox, provider)
        if t > moment and any(tracked[n] > moment for n in ids)
    ]
