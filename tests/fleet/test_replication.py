"""``redis.wait_replicas``: track() and atrack() return once a replica holds the events (WAIT
after the enqueue, in the same write, answering how many replicas acknowledged it), so a
master lost right after loses none of them; when
no replica confirms in time the call still returns (the events are on the master), counted as
unreplicated, and the next calls do not wait for a replica known missing.

The replica is frozen (SIGSTOP) to make "not yet replicated" last as long as the test wants."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fleet.topology import SentinelGroup
from tracking_worker.keys import Keys
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings
from tracking_worker.store.replication import RECHECK_AFTER


def tracker_on(group: SentinelGroup, tmp_path: Path, wait: int, timeout: float) -> Tracker:
    settings = load_settings(
        {
            "redis": group.settings(wait_replicas=wait, socket_timeout=timeout),
            "producer": {"spool_dir": str(tmp_path / "spool")},
            "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
        },
        environ={},
    )
    tracker = Tracker(settings)
    tracker.trigger = lambda provider: None  # no worker here: nothing to start
    return tracker


@contextmanager
def frozen_replica(group: SentinelGroup, thaw_after: float | None = None) -> Iterator[None]:
    """The replica stopped (it neither reads nor acknowledges the stream), thawed after
    ``thaw_after`` seconds by a timer, or at the end."""
    master = group.master()
    replica = next(node for node in group.nodes if node is not master)
    assert replica.child is not None
    pid = replica.child.pid
    os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(thaw_after or 0, os.kill, (pid, signal.SIGCONT))
    if thaw_after is not None:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()
        os.kill(pid, signal.SIGCONT)


def track_with(kind: str, tracker: Tracker) -> Callable[[int], None]:
    if kind == "track":
        return lambda n: tracker.track("purchase", telegram_id=n) and None

    def atrack(n: int) -> None:
        async def one() -> None:
            async with AsyncTracker(tracker=tracker) as tracked:
                await tracked.track("purchase", telegram_id=n)

        asyncio.run(one())

    return atrack


@pytest.mark.parametrize("kind", ["track", "atrack"])
def test_a_call_returns_once_the_replica_holds_its_events(
    kind: str, group: SentinelGroup, tmp_path: Path
) -> None:
    tracker = tracker_on(group, tmp_path, wait=1, timeout=3.0)
    track = track_with(kind, tracker)
    track(1)  # connected, scripts loaded: what follows measures the wait alone
    with frozen_replica(group, thaw_after=0.4):
        started = time.monotonic()
        track(2)
        took = time.monotonic() - started
    assert 0.3 < took < 2.5, took  # it waited for the replica to come back and take it
    assert tracker.intake.replication.unreplicated == 0  # WAIT answered: 1 replica has it
    tracker.close()


def test_without_wait_replicas_a_call_returns_before_the_replica_has_it(
    group: SentinelGroup, tmp_path: Path
) -> None:
    """The same as above with ``wait_replicas = 0``: what the setting changes."""
    tracker = tracker_on(group, tmp_path, wait=0, timeout=3.0)
    tracker.track("purchase", telegram_id=1)
    with frozen_replica(group, thaw_after=0.4):
        started = time.monotonic()
        tracker.track("purchase", telegram_id=2)
        took = time.monotonic() - started
    assert took < 0.2, took
    assert tracker.intake.replication.unreplicated == 0  # nothing asked, nothing counted
    tracker.close()


def test_an_enqueue_no_replica_confirms_is_kept_counted_and_not_waited_for_again(
    group: SentinelGroup, tmp_path: Path
) -> None:
    tracker = tracker_on(group, tmp_path, wait=1, timeout=0.5)
    tracker.track("purchase", telegram_id=1)
    with frozen_replica(group):
        started = time.monotonic()
        tracker.track("purchase", telegram_id=2)
        first = time.monotonic() - started
        started = time.monotonic()
        tracker.track("purchase", telegram_id=3)
        second = time.monotonic() - started
        master = group.master().client()
        assert master.llen(Keys("graspil").pending) == 3  # on the master: nothing spooled
        master.close()
    assert not tracker.spool.has_events()
    assert 0.3 < first < 0.6, first  # WAIT's share of socket_timeout, not more
    assert second < min(0.1, RECHECK_AFTER), second  # a replica known missing: no wait
    assert tracker.intake.replication.unreplicated == 2
    tracker.close()
