"""Faults of the Redis Cluster under a running producer and worker: a master stopped (and
restarted), a master that stops answering, a provider's slot moved to another master. Each test
has a cluster of its own (``own_cluster``): the module-scoped one of test_cluster.py stays
healthy for the others."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from tests.fleet.stream import PROVIDERS, Stream, drained, purchase, received
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.devtools import EmbeddedCluster, EmbeddedRedis
from tracking_worker.errors import StoreUnavailable
from tracking_worker.keys import Keys
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store import lua_scripts
from tracking_worker.store.cluster import node_of
from tracking_worker.store.connection import worker_client
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue, Settlement

#: A call that meets a stopped master returns within ``socket_timeout`` plus this.
SLACK = 0.3


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    """A cluster of this test's own, to stop a master of or move slots in."""
    cluster = EmbeddedCluster(tmp_path / "cluster").start()
    wait_for(lambda: settled(cluster.nodes), 10, message="the masters' config epochs settle")
    yield cluster
    for node in cluster.nodes:  # a test that failed with a node paused: let it stop
        if node.child is not None and node.child.alive:
            os.kill(node.child.pid, signal.SIGCONT)
    cluster.stop()


def settled(masters: list[EmbeddedRedis]) -> bool:
    """Every master sees the same config epoch and slots for each master, and no two epochs
    are alike: what ``redis-cli --cluster`` checks before moving a slot. Masters given their
    slots by ADDSLOTS all start at epoch 0, and Redis tells them apart over the next few
    gossip rounds; a slot handed over meanwhile can go back to its old master by a gossip of
    an epoch as high, and the new one then deletes the keys of the slot it "lost" (seen: a
    test that moved a slot 0.2 s after cluster_state turned ok found it empty)."""
    views = []
    for node in masters:
        with node.client(decode_responses=True) as client:
            known = client.execute_command("CLUSTER NODES")
        views.append(
            {
                address: (info["epoch"], tuple(tuple(r) for r in info["slots"]))
                for address, info in known.items()
            }
        )
    epochs = [epoch for epoch, _ in views[0].values()]
    return (
        len(views[0]) == len(masters)
        and all(v == views[0] for v in views)
        and len(set(epochs)) == len(epochs)
    )


def split(cluster: EmbeddedCluster, victim: EmbeddedRedis) -> tuple[list[str], list[str]]:
    """The providers whose slots ``victim`` holds, and the others."""
    down = [p for p in PROVIDERS if cluster.holder(Keys(p).stats) is victim]
    assert 0 < len(down) < len(PROVIDERS), "the victim holds some providers, not all"
    return down, [p for p in PROVIDERS if p not in down]


def spooled(tracker: Tracker) -> list[tuple[int, tuple[str, ...]]]:
    """Each spooled event's number and the providers it is addressed to, as the spool's files
    hold them (``spool-*.jsonl``, one JSON line an event)."""
    found = []
    for path in sorted(tracker.spool.directory.glob("spool-*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            found.append((int(data["event"]["telegram_id"]), tuple(data["providers"])))
    return sorted(found)


def enqueued_on(node: EmbeddedRedis, provider: str) -> int:
    """The provider's ``enqueued`` counter as the node itself holds it (not through routing)."""
    with node.client() as client:
        return int(client.hget(Keys(provider).stats, "enqueued") or 0)


def without_worker(cluster: EmbeddedCluster, sandbox: SandboxServer, tmp_path: Path) -> System:
    """A System on ``cluster`` with no worker or trigger: the queues are read by the test."""
    system = System(
        tmp_path / "system", cluster.nodes[0].url, sandbox.url, redis=cluster.settings()
    )
    system.tracker.trigger = lambda provider: None
    return system


def timed(call: Callable[[], Any]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def events(numbers: range) -> list[dict[str, Any]]:
    return [{"name": "purchase", **purchase(n)} for n in numbers]


def delivered_once(
    system: System, sandbox: SandboxServer, tracked: list[int], timeout: float = 30
) -> None:
    """Every provider settles every tracked event, and got each exactly once."""
    for provider in PROVIDERS:
        wait_for(lambda p=provider: system.settled(p, len(tracked)), timeout, message=system.log())
    expected = Counter(tracked)
    for provider in PROVIDERS:
        got = received(sandbox, provider)
        assert got == expected, (provider, got - expected, expected - got)


def test_a_stopped_master_spools_only_its_providers_parts(
    own_cluster: EmbeddedCluster, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    """track(), track_many() and atrack() go on while a master is stopped, by trackers made
    before and while it is down: each returns at once (well within socket_timeout), the
    providers of the live masters get every event on their own node, and only the stopped
    master's providers' parts are spooled. Restarted (same port and data, its scripts gone),
    later calls drain the spool into it, and the worker delivers every event to every provider
    exactly once."""
    cluster = own_cluster
    system = make_system(redis_url=cluster.nodes[0].url, redis=cluster.settings())
    tracker = system.tracker
    timeout = system.settings.redis.socket_timeout
    tracker.track("purchase", **purchase(1))  # the cluster discovered, as a running app has
    # The master of slot 0, the first CLUSTER SLOTS names: redis-py's default node, which a
    # client being built asks for COMMAND (see DeferredCluster.command); and redis.url's.
    victim = cluster.nodes[0]
    down, live = split(cluster, victim)
    victim.stop()

    waits = [
        timed(lambda: tracker.track("purchase", **purchase(2))),
        timed(lambda: tracker.track_many(events(range(3, 6)))),
    ]
    fresh = Tracker(system.settings)  # a web process started while the master is down
    fresh.trigger = tracker.trigger
    try:
        waits.append(timed(lambda: fresh.track("purchase", **purchase(6))))
    finally:
        fresh.close()

    async def while_down() -> None:  # an AsyncTracker made while the master is down
        async with AsyncTracker(tracker=tracker) as atracker:
            start = time.monotonic()
            await atracker.track("purchase", **purchase(7))
            await atracker.track_many(events(range(8, 11)))
            waits.append(time.monotonic() - start)

    asyncio.run(while_down())
    tracked = list(range(1, 11))
    assert max(waits) < timeout + SLACK, waits
    assert spooled(tracker) == [(n, tuple(down)) for n in range(2, 11)]
    for provider in live:  # on their own nodes, none of it spooled
        assert enqueued_on(cluster.holder(Keys(provider).stats), provider) == 10, provider
    assert tracker.outage.skipped(time.monotonic()) is None, "a live master is not skipped"

    victim.start()  # same port, same data folder: its node id and slots from nodes.conf
    wait_for(cluster.ready, 10, message="the restarted master rejoins, cluster_state ok")

    async def after_restart() -> None:  # the restarted node has no scripts: NOSCRIPT, loaded
        async with AsyncTracker(tracker=tracker) as atracker:
            await atracker.track("purchase", **purchase(11))
            await atracker.track_many(events(range(12, 14)))

    asyncio.run(after_restart())
    tracked += [11, 12, 13]

    def one_more_call_drains() -> bool:  # as a web app's next requests drain it
        tracked.append(tracked[-1] + 1)
        tracker.track("purchase", **purchase(tracked[-1]))
        return not tracker.spool.has_events()

    wait_for(one_more_call_drains, 10, interval=0.1, message="later calls drain the spool")
    assert spooled(tracker) == []
    for provider in down:
        assert enqueued_on(victim, provider) == len(tracked), provider
    delivered_once(system, sandbox, tracked)


def test_a_master_that_stops_answering_costs_one_call_socket_timeout_and_no_duplicate(
    own_cluster: EmbeddedCluster, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A master paused (SIGSTOP: connections accepted, nothing answered): the first track()
    gives up on it within socket_timeout (no second wait on it: no redirect past the deadline,
    no spool drain in the same call) and spools its providers' parts alone; the calls that
    follow within ``node_skips.DOWN_FOR`` do not wait on it at all (its parts spooled unsent),
    and the first call after that tries it again. Resumed, it runs what it was sent before
    it paused: that event is in Redis and in the spool, and the drain (each id looked up)
    adds none twice."""
    cluster = own_cluster
    system = without_worker(cluster, sandbox, tmp_path)
    tracker = system.tracker
    timeout = system.settings.redis.socket_timeout
    try:
        tracker.track("purchase", **purchase(1))
        victim = cluster.holder(Keys(PROVIDERS[0]).stats)
        name = f"127.0.0.1:{victim.port}"
        down, live = split(cluster, victim)
        assert victim.child is not None
        os.kill(victim.child.pid, signal.SIGSTOP)
        try:
            first = timed(lambda: tracker.track("purchase", **purchase(2)))
            skipped = [
                timed(lambda: tracker.track_many(events(range(3, 6)))),
                # A spool drain is due by now (SPOOL_CHECK_EVERY): not in a call whose own
                # part for that master just failed, which would wait on it once more.
                timed(lambda: tracker.track("purchase", **purchase(6))),
            ]
            assert tracker.intake.skips.skipped(name) is not None, "the calls were skipped"
            wait_for(lambda: tracker.intake.skips.skipped(name) is None, 5)
            again = timed(lambda: tracker.track("purchase", **purchase(7)))
        finally:
            os.kill(victim.child.pid, signal.SIGCONT)
        assert timeout * 0.9 <= first < timeout + SLACK, first
        assert max(skipped) < SLACK, skipped
        assert timeout * 0.9 <= again < timeout + SLACK, "tried again after DOWN_FOR"
        assert spooled(tracker) == [(n, tuple(down)) for n in range(2, 8)]
        for provider in live:
            assert enqueued_on(cluster.holder(Keys(provider).stats), provider) == 7, provider
        # Event 2 went over a connection already open: the paused master ran it on resuming,
        # so it is in Redis and in the spool. The skipped calls sent nothing of 3 to 6, and
        # event 7's new connection timed out in its handshake.
        wait_for(lambda: all(enqueued_on(victim, p) == 2 for p in down), 5)
        wait_for(lambda: tracker.intake.skips.skipped(name) is None, 5)
        assert tracker.drain_spool() == 6
        assert spooled(tracker) == []
        for provider in PROVIDERS:
            queue = system.queue(provider)
            counts = queue.counts()
            assert (counts["enqueued"], counts["pending"]) == (7, 7), (provider, counts)
            batch = queue.claim(lease=30, size=100, flush=True, wait=0)
            assert batch is not None
            numbers = sorted(json.loads(raw)["telegram_id"] for raw in batch.events)
            assert numbers == [1, 2, 3, 4, 5, 6, 7], provider
    finally:
        system.stop()


def node_id(node: EmbeddedRedis) -> str:
    with node.client() as client:
        return str(client.execute_command("CLUSTER MYID").decode())


def move_slot(
    cluster: EmbeddedCluster, slot: int, source: EmbeddedRedis, target: EmbeddedRedis
) -> None:
    """Move ``slot`` with its keys from ``source`` to ``target`` as ``redis-cli --cluster
    reshard`` does: IMPORTING on the target, MIGRATING on the source, the keys MIGRATEd, then
    every master told the slot's new node."""
    begin_move(slot, source, target)
    migrate_keys(slot, source, target)
    end_move([*cluster.nodes], slot, target)


def begin_move(slot: int, source: EmbeddedRedis, target: EmbeddedRedis) -> None:
    with target.client() as to, source.client() as source_client:
        to.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", node_id(source))
        source_client.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", node_id(target))


def migrate_keys(slot: int, source: EmbeddedRedis, target: EmbeddedRedis) -> None:
    with source.client() as client:
        while keys := client.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            client.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)


def end_move(masters: list[EmbeddedRedis], slot: int, target: EmbeddedRedis) -> None:
    """Every master told ``slot``'s new node, the target first (as redis-cli does), until
    all of them agree (``settled``)."""
    for node in sorted(masters, key=lambda n: n is not target):
        with node.client() as client:
            client.execute_command("CLUSTER SETSLOT", slot, "NODE", node_id(target))
    wait_for(lambda: settled(masters), 10, message=f"every master sees slot {slot} moved")


def keys_in_slot(node: EmbeddedRedis, slot: int) -> int:
    with node.client() as client:
        return int(client.execute_command("CLUSTER COUNTKEYSINSLOT", slot))


def moved_replies(node: EmbeddedRedis) -> int:
    """How many MOVED replies ``node`` has given (INFO errorstats)."""
    with node.client() as client:
        stats = client.info("errorstats")
    return int(stats.get("errorstat_MOVED", {}).get("count", 0))


def cluster_info(node: EmbeddedRedis) -> dict[str, str]:
    with node.client(decode_responses=True) as client:
        info: dict[str, str] = client.execute_command("CLUSTER INFO")
    return info


def test_a_reshard_to_a_new_master_spools_the_moving_providers_part_alone(
    own_cluster: EmbeddedCluster,
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fourth master joins and a provider's slot moves to it. Until the move ends the old
    master answers ASK naming a node no client has in its map (a master with no slot is in no
    CLUSTER SLOTS answer): track(), track_many() and atrack() spool that provider's part
    alone and raise nothing. Once the move ends, a MOVED puts the new master in the map: the
    calls land there, and the spool drains into it, each event once. A worker's script in
    that window waits for the move (StoreUnavailable, never redis-py's own AttributeError, if
    it outlasts the wait), then runs on the new master."""
    cluster = own_cluster
    system = without_worker(cluster, sandbox, tmp_path)
    tracker = system.tracker
    provider = "giosg"
    keys = Keys(provider)
    slot = key_slot(keys.stats.encode())
    source = cluster.holder(keys.stats)
    new = EmbeddedRedis(tmp_path / "new-master", cluster=True).start()
    try:
        tracker.track("purchase", **purchase(1))
        with new.client() as client:
            client.execute_command("CLUSTER MEET", "127.0.0.1", cluster.nodes[0].port)
        masters = [*cluster.nodes, new]
        wait_for(
            lambda: (
                settled(masters) and all(cluster_info(n)["cluster_state"] == "ok" for n in masters)
            ),
            10,
            message="the new master joins, its epoch its own",
        )
        queue = ProviderQueue(worker_client(system.settings), Scripts(), keys)
        assert queue.counts()["pending"] == 1  # the worker's map: the slot on its old master
        begin_move(slot, source, new)
        migrate_keys(slot, source, new)
        with monkeypatch.context() as patch:
            patch.setattr(lua_scripts, "SLOT_MOVE_WAIT", 0.3)
            with pytest.raises(StoreUnavailable, match="its slot is moving to a new master"):
                queue.claim(lease=30, size=1, flush=True, wait=0)
        claimed = ThreadPoolExecutor(1)
        claim = claimed.submit(queue.claim, lease=30, size=1, flush=True, wait=0)

        tracker.track("purchase", **purchase(2))
        tracker.track_many(events(range(3, 5)))

        async def during_the_move() -> None:
            async with AsyncTracker(tracker=tracker) as atracker:
                await atracker.track("purchase", **purchase(5))

        asyncio.run(during_the_move())
        assert spooled(tracker) == [(n, (provider,)) for n in range(2, 6)]
        for other in PROVIDERS:
            if other != provider:
                assert system.counts(other)["enqueued"] == 5, other

        end_move(masters, slot, new)
        batch = claim.result(timeout=10)  # waited for the move, then claimed on the new master
        claimed.shutdown()
        assert batch is not None and [json.loads(e)["telegram_id"] for e in batch.events] == [1]
        assert queue.settle(batch, Settlement(delivered=len(batch.events)))
        tracker.track("purchase", **purchase(6))
        assert node_of(tracker.client, keys.stats).port == new.port, "the map after MOVED"
        tracker.drain_spool()  # what track(6)'s own drain step left, if any
        assert spooled(tracker) == []
        assert keys_in_slot(source, slot) == 0
        with new.client() as client:
            assert int(client.hget(keys.stats, "enqueued") or 0) == 6
            raws = client.lrange(keys.pending, 0, -1)
        assert sorted(json.loads(raw)["telegram_id"] for raw in raws) == list(range(2, 7))
    finally:
        system.stop()
        new.stop()


def test_a_master_down_past_the_node_timeout_fails_the_cluster_and_every_event_is_spooled(
    own_cluster: EmbeddedCluster, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    """A master down longer than cluster-node-timeout (lowered to 500 ms here) is marked
    failed and the cluster's state is fail: the live masters refuse every key (CLUSTERDOWN).
    track() then spools whole events at once and skips Redis a moment, as when one Redis is
    down; restarted, the cluster is ok again, later calls drain the spool, and the worker
    delivers every event to every provider exactly once."""
    cluster = own_cluster
    for node in cluster.nodes:
        with node.client() as client:
            client.config_set("cluster-node-timeout", 500)
    system = make_system(redis_url=cluster.nodes[0].url, redis=cluster.settings())
    tracker = system.tracker
    timeout = system.settings.redis.socket_timeout
    tracker.track("purchase", **purchase(1))
    victim = cluster.nodes[1]
    live = [node for node in cluster.nodes if node is not victim]
    victim.stop()
    wait_for(
        lambda: all(cluster_info(n)["cluster_state"] == "fail" for n in live),
        10,
        message="the live masters mark the cluster failed",
    )
    waits = [
        timed(lambda: tracker.track("purchase", **purchase(2))),
        timed(lambda: tracker.track_many(events(range(3, 6)))),
    ]
    assert max(waits) < timeout + SLACK, waits
    assert spooled(tracker) == [(n, ()) for n in range(2, 6)], "whole events: every provider"
    assert tracker.outage.skipped(time.monotonic()) is not None, "Redis skipped a moment"

    victim.start()
    wait_for(cluster.ready, 10, message="the restarted master rejoins, cluster_state ok")
    tracked = list(range(1, 6))

    def one_more_call_drains() -> bool:
        tracked.append(tracked[-1] + 1)
        tracker.track("purchase", **purchase(tracked[-1]))
        return not tracker.spool.has_events()

    wait_for(one_more_call_drains, 10, interval=0.1, message="later calls drain the spool")
    delivered_once(system, sandbox, tracked)


def test_a_moved_slot_is_followed_by_the_producer_and_the_queue(
    own_cluster: EmbeddedCluster, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A provider's slot moves to another master after a Tracker, an AsyncTracker and a
    worker's ProviderQueue have learnt the cluster's map: the old master answers MOVED, and
    track(), track_many(), atrack() and the queue's scripts and reads follow it to the new
    one: nothing spooled, nothing raised, every event on the new master once."""
    cluster = own_cluster
    system = without_worker(cluster, sandbox, tmp_path)
    tracker = system.tracker
    provider = "giosg"
    keys = Keys(provider)
    slot = key_slot(keys.stats.encode())
    source = cluster.holder(keys.stats)
    target = next(node for node in cluster.nodes if node is not source)
    queue = ProviderQueue(worker_client(system.settings), Scripts(), keys)
    loop = asyncio.new_event_loop()
    atracker = AsyncTracker(tracker=tracker)
    try:
        tracker.track("purchase", **purchase(1))
        loop.run_until_complete(atracker.track("purchase", **purchase(2)))
        assert queue.counts()["pending"] == 2
        for client in (tracker.client, atracker.client, queue.client):
            assert node_of(client, keys.stats).port == source.port, "the map before the move"
        moved_before = moved_replies(source)

        move_slot(cluster, slot, source, target)
        assert keys_in_slot(source, slot) == 0 and keys_in_slot(target, slot) > 0

        tracker.track("purchase", **purchase(3))
        tracker.track_many(events(range(4, 7)))
        loop.run_until_complete(atracker.track("purchase", **purchase(7)))
        loop.run_until_complete(atracker.track_many(events(range(8, 11))))
        assert moved_replies(source) > moved_before, "the stale map met a MOVED"
        assert tracker.spool.count() == 0 and tracker.outage.spooled == 0
        assert atracker.outage.spooled == 0
        for client in (tracker.client, atracker.client):
            assert node_of(client, keys.stats).port == target.port, "the map after the move"
        assert enqueued_on(target, provider) == 10
        assert keys_in_slot(source, slot) == 0, "nothing of the slot written to the old master"
        for other in PROVIDERS:
            assert system.counts(other)["enqueued"] == 10, other

        # The worker's side: a claim, a settle and the counts, on a client made before.
        batch = queue.claim(lease=30, size=100, flush=True, wait=0)
        assert batch is not None and len(batch.events) == 10
        assert queue.settle(batch, Settlement(delivered=len(batch.events)))
        counts = queue.counts()
        assert (counts["delivered"], counts["pending"], counts["leased_batches"]) == (10, 0, 0)
        assert node_of(queue.client, keys.stats).port == target.port
        with target.client() as direct:
            assert int(direct.hget(keys.stats, "delivered") or 0) == 10
    finally:
        loop.run_until_complete(atracker.aclose())
        loop.close()
        queue.client.close()
        system.stop()


@dataclass(frozen=True)
class Moves:
    #: track() calls a second while the slot moves; how many moves (each to the next master,
    #: round the cluster), one a second.
    rate: float
    moves: int


MOVES = [
    pytest.param(Moves(50, 1), id="fast"),
    pytest.param(Moves(200, 3), id="busy", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("plan", MOVES)
def test_a_slot_moved_while_the_worker_delivers(
    plan: Moves,
    own_cluster: EmbeddedCluster,
    make_system: Callable[..., System],
    sandbox: SandboxServer,
) -> None:
    """A provider's slot moves while track() runs and a real worker and beat deliver: keys
    MIGRATEd under their feet (ASK and TRYAGAIN replies meanwhile), then MOVED. Every event
    reaches every provider exactly once, and the slot's keys live on its last master only."""
    cluster = own_cluster
    system = make_system(redis_url=cluster.nodes[0].url, redis=cluster.settings())
    provider = "giosg"
    keys = Keys(provider)
    slot = key_slot(keys.stats.encode())
    holder = cluster.holder(keys.stats)
    start = time.monotonic()
    stream = Stream(system.tracker, plan.rate).start()
    try:
        for move in range(plan.moves):
            pause_until(start + 1.0 + move)
            target = cluster.nodes[(cluster.nodes.index(holder) + 1) % len(cluster.nodes)]
            move_slot(cluster, slot, holder, target)
            holder = target
        pause_until(time.monotonic() + 0.5)
    finally:
        stream.stop()
    first = len(stream.tracked) + 1
    system.tracker.track_many(events(range(first, first + 50)))
    tracked = list(range(1, first + 50))
    wait_for(lambda: drained(system), 10, message="what the stream spooled goes to Redis")
    for node in cluster.nodes:
        assert keys_in_slot(node, slot) == 0 or node is holder, node.port
    delivered_once(system, sandbox, tracked)
    assert enqueued_on(holder, provider) == len(tracked)
