"""Counted once: a round trip that timed out after Redis ran it is spooled, and the drain's
enqueue of the same ids is a no-op, so no provider gets an event twice."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import enqueue_call, pause_until, wait_for
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store.lua_scripts import Scripts

PROVIDERS = ("graspil", "grampixel")


def settings_for(url: str, spool: Path, **producer: Any) -> Settings:
    every = provider_settings("http://127.0.0.1:9")  # no worker: the pending lists are read
    return load_settings(
        {
            "redis": {"url": url},
            "producer": {"spool_dir": str(spool), **producer},
            "providers": {name: every[name] for name in PROVIDERS},
        },
        environ={},
    )


def purchase(n: int) -> dict[str, Any]:
    return {"telegram_id": n, "value": 9.99, "currency": "usd"}


@pytest.fixture
def paused_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own: SIGSTOP holds it as a hung host would (connections
    open, nothing answered), and what was sent meanwhile runs when it resumes."""
    (tmp_path / "redis").mkdir()
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        os.kill(server_pid(server), signal.SIGCONT)
        server.stop()


def server_pid(server: EmbeddedRedis) -> int:
    assert server.child is not None
    return server.child.pid


def copies(client: redis.Redis, provider: str) -> collections.Counter[str]:
    """How many times each event id is pending for ``provider``."""
    raws = client.lrange(Keys(provider).pending, 0, -1)
    return collections.Counter(Event.from_json(raw).event_id for raw in raws)


def assert_once_each(client: redis.Redis, ids: list[str]) -> None:
    for provider in PROVIDERS:
        counted = copies(client, provider)
        twice = sorted(i for i, n in counted.items() if n > 1)
        missing = sorted(set(ids) - set(counted))
        assert (twice, missing) == ([], []), f"{provider}: {len(twice)} twice, {len(missing)} lost"
        assert len(counted) == len(ids)


def run_then_drain(tracker: Tracker, produce: Callable[[int], None], threads: int) -> None:
    """``produce(n)`` in ``threads`` threads at once, then the spool drained to the end."""
    running = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    wait_for(lambda: tracker.drain_spool() >= 0 and tracker.spool.count() == 0, 20)


def pause(server: EmbeddedRedis, seconds: float) -> None:
    """Hold Redis ``seconds`` (past socket_timeout), in the background."""
    os.kill(server_pid(server), signal.SIGSTOP)
    threading.Timer(seconds, os.kill, (server_pid(server), signal.SIGCONT)).start()


def test_a_redis_paused_past_its_timeout_under_a_steady_stream_counts_every_event_once(
    paused_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """Four threads call track() every 5 ms; Redis stops answering for 1.2 s (socket_timeout
    is 0.5 s) and then runs what it was sent. The calls in flight time out and spool their
    events, which Redis has nonetheless enqueued: the drains must add nothing."""
    tracker = Tracker(settings_for(paused_redis.url, tmp_path / "spool"))
    tracker.trigger = lambda name: None
    client = redis.Redis.from_url(paused_redis.url)
    ids: list[str] = []
    paused_at = threading.Event()

    def produce(thread: int) -> None:
        start = time.monotonic()
        for i in range(300):
            pause_until(start + i * 0.005)  # a steady stream, not a burst
            ids.append(tracker.track("purchase", **purchase(thread * 1000 + i + 1)))
            if thread == 0 and i == 100:
                pause(paused_redis, 1.2)
                paused_at.set()

    run_then_drain(tracker, produce, 4)
    assert paused_at.is_set()
    assert tracker.outage.spooled > 0  # the pause was felt: round trips timed out
    stats = client.hgetall(Keys("graspil").stats)
    assert int(stats.get(b"deduplicated", 0)) > 0  # ... after Redis had run some of them
    assert_once_each(client, ids)


def test_debug_sleep_beside_track_counts_every_event_once(
    paused_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """DEBUG SLEEP 0.8 from another client while four threads call track() every 5 ms: each
    thread's call in flight times out, Redis runs it after the sleep, the drain adds nothing."""
    tracker = Tracker(settings_for(paused_redis.url, tmp_path / "spool"))
    tracker.trigger = lambda name: None
    client = redis.Redis.from_url(paused_redis.url)
    ids: list[str] = []

    def sleep_redis() -> None:
        redis.Redis.from_url(paused_redis.url).execute_command("DEBUG", "SLEEP", "0.8")

    def produce(thread: int) -> None:
        start = time.monotonic()
        for i in range(200):
            pause_until(start + i * 0.005)
            ids.append(tracker.track("purchase", **purchase(thread * 1000 + i + 1)))
            if thread == 0 and i == 50:
                threading.Thread(target=sleep_redis).start()

    run_then_drain(tracker, produce, 4)
    assert tracker.outage.spooled > 0
    assert_once_each(client, ids)


def test_track_many_with_redis_paused_counts_every_event_once(
    paused_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """Calls of ten events each: a call takes one mark, not ten ids, and the drain of a call
    that timed out after Redis ran it asks the mark, so it adds nothing."""
    tracker = Tracker(settings_for(paused_redis.url, tmp_path / "spool"))
    tracker.trigger = lambda name: None
    client = redis.Redis.from_url(paused_redis.url)
    ids: list[str] = []

    def produce(thread: int) -> None:
        start = time.monotonic()
        for i in range(60):
            pause_until(start + i * 0.02)
            batch = [
                {"name": "purchase", **purchase(thread * 10_000 + i * 10 + n + 1)}
                for n in range(10)
            ]
            ids.extend(tracker.track_many(batch))
            if thread == 0 and i == 20:
                pause(paused_redis, 1.2)

    run_then_drain(tracker, produce, 3)
    assert tracker.outage.spooled > 0
    assert_once_each(client, ids)
    marks = list(client.scan_iter(Keys("graspil").ids_prefix + "batch:*"))
    assert 0 < len(marks) <= 3 * 60  # one key per call, not one per event


def test_a_drained_call_is_taken_once_whether_or_not_it_ran(
    redis_client: redis.Redis, tmp_path: Path, redis_url: str
) -> None:
    """The drain of a call that never ran enqueues it, and marks it: a second drain of the same
    spooled events (a drain that itself timed out) adds nothing."""
    tracker = Tracker(settings_for(redis_url, tmp_path / "spool"))
    tracker.trigger = lambda name: None
    valid = tracker.producer.validate([{"name": "purchase", **purchase(n)} for n in (1, 2, 3)])
    plan = tracker.producer.plan(valid)
    assert plan.batch
    spooled = plan.spooled(valid)  # as a round trip that never reached Redis leaves them
    assert {item.batch for item in spooled} == {plan.batch}
    assert tracker.enqueue_now(spooled, check=True).failed == []
    assert tracker.enqueue_now(spooled, check=True).failed == []
    for provider in PROVIDERS:
        assert redis_client.llen(Keys(provider).pending) == 3


def test_atrack_with_redis_paused_counts_every_event_once(
    paused_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """Twenty tasks calling atrack() every 10 ms for 3 s; Redis stops answering for 1.2 s."""
    settings = settings_for(paused_redis.url, tmp_path / "spool")
    client = redis.Redis.from_url(paused_redis.url)

    sync = Tracker(settings)  # kept: its spool is drained after the loop ends
    sync.trigger = lambda name: None

    async def main() -> tuple[list[str], AsyncTracker]:
        tracker = AsyncTracker(tracker=sync)
        first = await tracker.track("purchase", **purchase(1))  # connected, trigger prepared
        loop = asyncio.get_running_loop()
        ends = loop.time() + 3.0

        async def one_client(c: int) -> list[str]:
            got, i = [], 0
            while loop.time() < ends:
                i += 1
                got.append(await tracker.track("purchase", **purchase(c * 1000 + i + 1)))
                await asyncio.sleep(0.01)
            return got

        tasks = [asyncio.ensure_future(one_client(c)) for c in range(20)]
        await asyncio.sleep(0.5)  # the stream is running when Redis stops
        pause(paused_redis, 1.2)
        parts = await asyncio.gather(*tasks)
        await tracker.aclose()
        return [first, *(i for part in parts for i in part)], tracker

    ids, tracker = asyncio.run(main())
    wait_for(lambda: sync.drain_spool() >= 0 and sync.spool.count() == 0, 20)
    assert tracker.outage.spooled > 0
    assert_once_each(client, ids)


def test_an_id_taken_is_refused_again_only_when_looked_up_and_only_within_the_window(
    redis_client: redis.Redis,
) -> None:
    """The id record itself: a drain (check) of an id already taken adds nothing; fresh ids
    are not looked up; once the window has passed, the same id goes in again."""
    scripts, keys = Scripts(), Keys("graspil")
    first = enqueue_call(['{"event_id":"a"}'], callers=["a"], window=1)
    fresh = enqueue_call(['{"event_id":"b"}'], window=1)

    def again(call: Any) -> list[int]:
        # The same ids and events as a spool drain brings them back: looked up.
        return scripts.call(redis_client, dataclasses.replace(call, check=True), keys)

    assert scripts.call(redis_client, first, keys)[0] == 1
    assert scripts.call(redis_client, fresh, keys)[0] == 1
    assert again(fresh) == [0, 0, 0, 1]  # taken: a no-op
    assert scripts.call(redis_client, fresh, keys)[0] == 1  # not looked up: a fresh id's call
    wait_for(lambda: not redis_client.keys(keys.ids_prefix + "*"), 5, message="ids expire")
    assert again(fresh)[0] == 1


def test_an_event_s_id_record_costs_a_few_bytes(redis_client: redis.Redis) -> None:
    """The bytes the id record adds per event and provider (the README quotes them): what
    200,000 more ids add once 100,000 fill the bucket's hashes (a thousand events a second
    put 900,000 in one), beside the hashes' own overhead."""
    scripts, keys = Scripts(), Keys("graspil")

    def fill(count: int) -> int:
        for _ in range(0, count, 10_000):
            scripts.call(redis_client, enqueue_call(["{}"] * 10_000, window=900), keys)
        return sum(
            redis_client.memory_usage(key, samples=0) or 0
            for key in redis_client.scan_iter(keys.ids_prefix + "*", count=1000)
        )

    first = fill(100_000)
    per_event = (fill(200_000) - first) / 200_000
    print(
        f"\nid record: {per_event:.1f} bytes an event and provider; {first} for the first 100,000"
    )
    assert per_event < 16
