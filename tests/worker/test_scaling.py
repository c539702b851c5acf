"""Delivery runs across worker nodes (real Celery workers, the sandbox): a provider's backlog
spreads over every node's processes, a slow provider leaves a process of each node to the
others, and a worker killed mid-run holds its provider for seconds, not a lease."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import redis

from tests.helpers import wait_for
from tests.store.timetravel import redis_now
from tests.system import System
from tracking_worker.keys import Keys
from tracking_worker.sandbox import SandboxServer


def runs_by_node(client: redis.Redis, provider: str) -> Counter[str]:
    """The provider's live runs, counted by worker node (tw:{p}:runs, lapsed ones left out)."""
    now_ms = redis_now(client) * 1000
    found: Counter[str] = Counter()
    for value in client.hvals(Keys(provider).runs):
        lapses, node, _ = value.decode().split("|")
        if int(lapses) > now_ms:
            found[node] += 1
    return found


def live_processes(client: redis.Redis, provider: str) -> int:
    return sum(int(v.split(b"|")[1]) for v in client.hvals(Keys(provider).nodes))


def purchases(first: int, count: int, provider: str) -> list[dict[str, object]]:
    return [
        {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
        | {"providers": [provider]}
        for n in range(first + 1, first + count + 1)
    ]


def test_two_nodes_both_deliver_one_providers_backlog_at_once(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    """Two hosts of two processes: the backlog of one quick provider takes all four (the old
    fixed two run slots, shared by every host, never gave it more than two)."""
    sandbox.set_latency("graspil", 0.5)  # a round of two batches: 0.5 s, quick
    system = make_system(
        providers=["graspil"], provider_overrides={"graspil": {"max_connections": 2}}
    )
    system.start_node("b", concurrency=2)
    wait_for(lambda: live_processes(redis_client, "graspil") == 4, 30, message=system.log())
    system.tracker.track_many(purchases(0, 8000, "graspil"))
    nodes = {system.hostname, system.node_name("b")}
    seen: list[Counter[str]] = []
    wait_for(
        lambda: (
            seen.append(runs_by_node(redis_client, "graspil")) or seen[-1] == {n: 2 for n in nodes}
        ),
        20,
        interval=0.02,
        message=f"four runs, two per node; seen {seen[-5:]}",
    )
    wait_for(lambda: system.settled("graspil", 8000), 60, message=system.log())
    assert len(sandbox.received("graspil")) == 8000


def test_a_slow_provider_leaves_its_nodes_other_process_to_the_others(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    """One node of two processes: Graspil answers in 1.5 s with a long backlog, and beat's tick
    asks for more of its runs every 0.25 s. It keeps to one process, so a GramPixel event
    tracked meanwhile is delivered at once, not after Graspil's run (run_seconds, 10 s)."""
    sandbox.set_latency("graspil", 1.5)
    system = make_system(
        providers=["graspil", "grampixel"],
        provider_overrides={"graspil": {"max_connections": 1}},
    )
    wait_for(lambda: live_processes(redis_client, "graspil") == 2, 30, message=system.log())
    system.tracker.track_many(purchases(0, 3000, "graspil"))
    wait_for(lambda: runs_by_node(redis_client, "graspil"), 15, message=system.log())
    wait_for(lambda: system.counts("graspil")["delivered"] >= 100, 15, message=system.log())
    tracked = time.monotonic()
    system.tracker.track_many(purchases(10_000, 5, "grampixel"))
    most: list[int] = []
    wait_for(
        lambda: (
            most.append(sum(runs_by_node(redis_client, "graspil").values()))
            or system.counts("grampixel")["delivered"] == 5
        ),
        8,
        interval=0.05,
        message=system.log(),
    )
    assert time.monotonic() - tracked < 5  # flush_interval 0.5 s and a tick: not a run's 10 s
    assert max(most) == 1
    assert system.counts("graspil")["pending"] > 0  # Graspil was still busy all along


def test_a_worker_killed_mid_run_holds_its_provider_for_seconds_not_a_lease(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    """One run at most (max_runs = 1), its worker SIGKILLed while it delivers a backlog with a
    60 s lease: a worker started in its place delivers the pending events within the run's
    lapse (5 s) and its own start-up; the old slot, which expired with the lease, held every
    other worker off for 60 s."""
    sandbox.set_latency("grampixel", 0.05)
    system = make_system(
        providers=["grampixel"],
        concurrency=1,
        delivery={"max_runs": 1, "lease_seconds": 60.0, "run_seconds": 60.0},
    )
    system.tracker.track_many(purchases(0, 2500, "grampixel"))
    wait_for(lambda: len(sandbox.received("grampixel")) >= 300, 30, message=system.log())
    assert system.worker is not None and runs_by_node(redis_client, "grampixel")
    system.worker.kill()
    killed = time.monotonic()
    before = len(sandbox.received("grampixel"))
    system.start_node("replacement")
    wait_for(
        lambda: len(sandbox.received("grampixel")) > before + 200,
        20,
        message=system.log(),
    )
    resumed = time.monotonic() - killed
    wait_for(lambda: system.counts("grampixel")["pending"] == 0, 30, message=system.log())
    print(f"\ndelivery resumed {resumed:.1f} s after the SIGKILL (lapse 5 s, start-up included)")
    assert resumed < 15, f"delivery resumed {resumed:.1f} s after the kill"
