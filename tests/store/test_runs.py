"""Run slots, worker nodes and the tick's claim (store/runs.py), against a real redis-server:
how many runs a provider may have at once, per node, and for how long a dead holder blocks."""

from __future__ import annotations

import json

import pytest
import redis

from tests.helpers import enqueue_call
from tests.store.timetravel import advance
from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.runs import RunSlot, beat_node, claim_tick

KEYS = Keys("grampixel")
LAPSE = 5.0
#: Pending events that make one more run worth a process, kept small here.
PER_RUN = 10


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


def slot(client: redis.Redis, scripts: Scripts, node: str, *, cap: int = 16) -> RunSlot:
    return RunSlot(client, scripts, KEYS, node=node, lapse=LAPSE, cap=cap, per_run=PER_RUN)


def pending(client: redis.Redis, scripts: Scripts, count: int) -> None:
    raws = (json.dumps({"n": i}) for i in range(count))
    scripts.call(client, enqueue_call(raws), KEYS)


def nodes(client: redis.Redis, scripts: Scripts, **processes: int) -> int:
    total = 0
    for node, count in processes.items():
        total = beat_node(client, scripts, KEYS, node=node, processes=count, lapse=LAPSE)
    return total


def test_one_run_when_no_worker_node_is_known_and_little_waits(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    first = slot(redis_client, scripts, "a").take()
    assert (first.done, first.room, first.rank) == (True, 0, 0)
    assert not slot(redis_client, scripts, "b").take().done  # no node counted: one run
    nodes(redis_client, scripts, a=2, b=2)
    assert not slot(redis_client, scripts, "b").take().done  # four processes, nothing waits
    pending(redis_client, scripts, 2 * PER_RUN)
    second = slot(redis_client, scripts, "b").take()
    assert (second.done, second.room, second.rank) == (True, 0, 0)  # the backlog calls for two


def test_runs_grow_with_the_backlog_up_to_the_live_processes_and_the_cap(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    assert nodes(redis_client, scripts, a=1, b=1, c=1) == 3
    pending(redis_client, scripts, 100 * PER_RUN)
    taken = [slot(redis_client, scripts, node).take() for node in ("a", "b", "c", "d")]
    assert [t.done for t in taken] == [True, True, True, False]  # three processes live
    assert [t.room for t in taken] == [2, 1, 0, 0]
    nodes(redis_client, scripts, d=4)
    assert slot(redis_client, scripts, "d", cap=4).take().done
    assert not slot(redis_client, scripts, "e", cap=4).take().done  # delivery.max_runs


def test_a_node_runs_more_than_one_only_while_a_run_finds_the_provider_quick(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    nodes(redis_client, scripts, a=2, b=2)
    pending(redis_client, scripts, 100 * PER_RUN)
    first = slot(redis_client, scripts, "a")
    assert first.take().done
    refused = slot(redis_client, scripts, "a").take()
    assert not refused.done and refused.rank == 1 and refused.room == 3  # slow, or not known
    assert slot(redis_client, scripts, "b").take().done  # another node's first run
    held = first.hold(fast=True)
    assert held.done and held.room == 2 and held.rank == 0
    second = slot(redis_client, scripts, "a").take()
    assert second.done and second.rank == 1  # quick: the node's other process joins
    assert not slot(redis_client, scripts, "a").take().done  # node a has two processes
    assert first.hold(fast=False).done  # the provider turned slow: no more extra runs
    assert not slot(redis_client, scripts, "b").take().done


def test_a_run_whose_worker_died_frees_its_slot_within_the_lapse(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    dead = slot(redis_client, scripts, "a")
    assert dead.take().done
    assert 0 < redis_client.pttl(KEYS.runs) <= LAPSE * 1000
    assert not slot(redis_client, scripts, "b").take().done
    advance(redis_client, KEYS, LAPSE - 1)
    assert dead.hold().done  # held in time: a lapse from now
    advance(redis_client, KEYS, LAPSE - 1)
    assert not slot(redis_client, scripts, "b").take().done
    advance(redis_client, KEYS, 1.01)  # no heartbeat for a whole lapse: as if killed
    assert slot(redis_client, scripts, "b").take().done
    assert not dead.hold().done  # the lapsed run learns it: it hands over


def test_a_released_slot_is_free_at_once_and_only_its_holder_releases_it(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    holder, other = slot(redis_client, scripts, "a"), slot(redis_client, scripts, "a")
    assert holder.take().done
    other.release()  # not its own: nothing happens
    assert not other.take().done and not other.hold().done
    holder.release()
    assert other.take().done
    assert not holder.hold().done


def test_worker_nodes_count_until_they_leave_or_lapse(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    assert nodes(redis_client, scripts, a=2) == 2
    assert nodes(redis_client, scripts, b=1) == 3
    assert nodes(redis_client, scripts, a=0) == 1  # a stopping node says so
    assert redis_client.hkeys(KEYS.nodes) == [b"b"]
    advance(redis_client, KEYS, LAPSE)  # b went silent: a dead host
    assert nodes(redis_client, scripts, c=4) == 4
    assert redis_client.hkeys(KEYS.nodes) == [b"c"]


def test_the_tick_is_claimed_once_per_interval_unless_forced(
    redis_client: redis.Redis, scripts: Scripts
) -> None:
    assert claim_tick(redis_client, scripts, "tw", min_gap=60)
    first = float(redis_client.get("tw:tick") or 0)
    assert not claim_tick(redis_client, scripts, "tw", min_gap=60)  # another beat's, too soon
    assert float(redis_client.get("tw:tick") or 0) == first
    assert claim_tick(redis_client, scripts, "tw", min_gap=0)  # tracking-worker tick
    assert float(redis_client.get("tw:tick") or 0) >= first
    redis_client.set("tw:tick", first - 61)
    assert claim_tick(redis_client, scripts, "tw", min_gap=60)
