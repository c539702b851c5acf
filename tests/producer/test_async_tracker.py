"""atrack(): track()'s validation, routing, Lua scripts and spool fallback over redis.asyncio,
never holding up the event loop: not under load, not while Redis is down or silent."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest
import redis

import tracking_worker
from tracking_worker.devtools import EmbeddedRedis, free_port
from tracking_worker.errors import TrackingUnavailable, ValidationError
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.producer.async_tracker import MAX_IN_FLIGHT, AsyncTracker
from tracking_worker.producer.outage import DOWN_FOR
from tracking_worker.producer.spool import Spool
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings

T = TypeVar("T")
#: The loop may be held this long at most (the issue's bound).
STALL_LIMIT = 0.005
#: Measurements of a stall bound on a shared machine (see ``measured``).
ATTEMPTS = 3
#: Providers that take a purchase with a telegram_id (graspil batches, grampixel sends singly).
PROVIDERS = ("graspil", "grampixel")


def settings_for(
    url: str, spool: Path, providers: tuple[str, ...] = PROVIDERS, **sections: Any
) -> Settings:
    every = provider_settings("http://127.0.0.1:9")  # never sent to: no worker here
    data: dict[str, Any] = {
        "redis": {"url": url, **sections.pop("redis", {})},
        "producer": {"spool_dir": str(spool), **sections.pop("producer", {})},
        "providers": {name: every[name] for name in providers},
        **sections,
    }
    return load_settings(data, environ={})


def purchase(n: int, **extra: Any) -> dict[str, Any]:
    return {"telegram_id": n, "value": 9.99, "currency": "usd", **extra}


def pending(client: redis.Redis, provider: str) -> list[Event]:
    return [Event.from_json(raw) for raw in client.lrange(Keys(provider).pending, 0, -1)]


class Heartbeat:
    """Wakes every millisecond and keeps how late each wake-up was: how long the loop was held
    by anything else (give or take the selector's millisecond rounding).

    ``lateness`` is wall-clock time. ``held`` leaves out the time the loop's thread waited,
    runnable, for a CPU that other processes had (Linux schedstat): on a loaded machine, other
    engineers' test runs would otherwise count as stalls of this loop. Time in a blocking call,
    on CPU, or waiting for the GIL is all still counted.
    """

    def __init__(self, every: float = 0.001) -> None:
        self.every = every
        self.lateness: list[float] = []
        self.held: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = False

    @property
    def max(self) -> float:
        return max(self.held, default=0.0)

    @property
    def max_wall(self) -> float:
        return max(self.lateness, default=0.0)

    async def _run(self) -> None:
        while not self._stop:
            start, waited = time.perf_counter(), run_queue_wait()
            await asyncio.sleep(self.every)
            late = time.perf_counter() - start - self.every
            self.lateness.append(late)
            self.held.append(max(0.0, late - (run_queue_wait() - waited)))

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0.01)  # beating before the work starts
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop = True
        assert self._task is not None
        await self._task


def run_queue_wait() -> float:
    """Seconds this thread has spent runnable but not running (0 where Linux does not say)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Everything allocated so far (the whole test session's heap) out of the collector's
    reach, so the heartbeat measures what the code under test does, not a full collection
    of pytest's objects that any loop in this process would sit through."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def measured(scenario: Callable[[int], Heartbeat], what: str) -> Heartbeat:
    """Run ``scenario(attempt)`` until its loop was held less than STALL_LIMIT, at most
    ATTEMPTS times. A stall of our own (a blocking call, a long burst of work) shows in every
    attempt; another process's burst on a shared machine does not come back three times."""
    held: list[str] = []
    for attempt in range(ATTEMPTS):
        beat = scenario(attempt)
        held.append(f"{beat.max * 1000:.2f} ms ({beat.max_wall * 1000:.2f} ms wall clock)")
        if beat.max < STALL_LIMIT:
            break
    print(f"\n{what}: loop held at most " + ", then ".join(held))
    assert beat.max < STALL_LIMIT, f"{what}: loop held {held}"
    return beat


def test_a_thousand_calls_from_twenty_clients_never_stall_the_loop(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, record_property: Any
) -> None:
    tracking_worker.configure(settings_for(redis_url, tmp_path / "spool"))

    async def scenario() -> Heartbeat:
        # Once per process (per loop), not per call, so done before measuring: the first full
        # batch's trigger imports Celery (in the side thread), and the first calls open the
        # connections. The trigger marks are cleared so that triggers go out while measuring.
        batch = [{"name": "purchase", **purchase(n)} for n in range(1, 101)]
        slots = range(MAX_IN_FLIGHT)
        await asyncio.gather(*(tracking_worker.atrack_many(batch[i::MAX_IN_FLIGHT]) for i in slots))
        await tracking_worker.get_async_tracker().join()
        redis_client.delete(*(Keys(p).trigger for p in PROVIDERS))

        async def client(c: int) -> list[str]:
            return [
                await tracking_worker.atrack("purchase", **purchase(c * 1000 + i + 1))
                for i in range(50)
            ]

        with frozen_heap():
            async with Heartbeat() as beat:
                ids = await asyncio.gather(*map(client, range(20)))
        await tracking_worker.aclose()
        assert len({i for part in ids for i in part}) == 1000
        return beat

    def attempt(n: int) -> Heartbeat:
        redis_client.flushall()
        beat = run(scenario)
        for provider in PROVIDERS:
            assert redis_client.llen(Keys(provider).pending) == 1100
        # Triggers went out while measuring (one per provider: the mark holds the next ones).
        assert redis_client.llen("tracking.graspil") >= 1
        return beat

    beat = measured(attempt, "1,000 atrack calls from 20 clients")
    record_property("max_stall_ms", round(beat.max * 1000, 2))


def test_a_fresh_process_warmed_by_one_call_never_stalls_its_loop(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """As a bot runs it: a new process, one call and one atrack_many of 100, then 1,000 calls
    from 20 tasks, the first full batch's trigger among them, nothing frozen or preloaded.
    The trigger's first send imported Celery in the side thread mid-stream, holding the loop
    (5-7 ms on a busy host, 28 ms on a quiet one); the tracker now does it before its first
    call returns. A process of its own: this one has long imported Celery."""
    script = f"""
import asyncio, json, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
import tracking_worker
from tests.producer.test_async_tracker import Heartbeat, purchase, settings_for
from pathlib import Path

async def main():
    await tracking_worker.atrack("purchase", **purchase(1))
    batch = [{{"name": "purchase", **purchase(n)}} for n in range(2, 102)]
    await tracking_worker.atrack_many(batch)
    assert "celery" in sys.modules, "the trigger app is prepared before the first call returns"

    async def client(c):
        return [await tracking_worker.atrack("purchase", **purchase(c * 1000 + i + 1))
                for i in range(50)]

    async with Heartbeat() as beat:
        await asyncio.gather(*map(client, range(20)))
    await tracking_worker.aclose()
    print(json.dumps([beat.max, beat.max_wall]))

tracking_worker.configure(settings_for(sys.argv[1], Path(sys.argv[2])))
asyncio.run(main())
"""

    def attempt(n: int) -> Heartbeat:
        redis_client.flushall()
        done = subprocess.run(
            [sys.executable, "-c", script, redis_url, str(tmp_path / f"spool{n}")],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        beat = Heartbeat()
        beat.held, beat.lateness = ([value] for value in json.loads(done.stdout))
        for provider in PROVIDERS:  # every call enqueued; grampixel's batch filled
            assert redis_client.llen(Keys(provider).pending) == 1101
        assert redis_client.llen("tracking.grampixel") >= 1
        return beat

    measured(attempt, "a fresh process: 1,000 atrack calls from 20 clients")


@contextlib.contextmanager
def unreachable(kind: str, tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A Redis URL that fails as ``kind`` says, and how to make it answer again (or not)."""
    if kind == "refused":  # nothing listens: connect fails at once
        yield f"redis://127.0.0.1:{free_port()}/0", lambda: None
    elif kind == "silent":  # the kernel accepts connections; nobody ever reads or answers
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", lambda: None
    else:  # a real redis-server, paused (SIGSTOP): a GC pause, a stopped VM
        server = EmbeddedRedis(tmp_path / "paused-redis", appendonly=False).start()
        os.kill(server.child.pid if server.child else 0, signal.SIGSTOP)
        resumed = False

        def resume() -> None:
            nonlocal resumed
            if server.child is not None and not resumed:
                os.kill(server.child.pid, signal.SIGCONT)
                resumed = True

        try:
            yield server.url, resume
        finally:
            resume()
            server.stop()


@pytest.mark.parametrize("kind", ["refused", "paused", "silent"])
def test_redis_down_or_silent_each_call_returns_within_its_timeout_and_spools(
    kind: str, tmp_path: Path
) -> None:
    timeout = 0.3

    def attempt(n: int) -> Heartbeat:
        spool_dir = tmp_path / f"spool{n}"
        with unreachable(kind, tmp_path / f"redis{n}") as (url, _):
            settings = settings_for(url, spool_dir, redis={"socket_timeout": timeout})

            async def scenario() -> tuple[Heartbeat, list[float], list[float], int]:
                tracker = AsyncTracker(settings)
                tracker.tracker.trigger = lambda name: None

                async def timed(n: int) -> float:
                    start = time.perf_counter()
                    await tracker.track("purchase", **purchase(n))
                    return time.perf_counter() - start

                async with Heartbeat() as beat:
                    # More callers than connection slots: the ones waiting for a slot are
                    # bounded by the same timeout.
                    first = await asyncio.gather(*map(timed, range(1, 4 * MAX_IN_FLIGHT + 1)))
                    # Within DOWN_FOR nobody waits on Redis again: straight to the spool.
                    then = await asyncio.gather(*map(timed, range(100, 105)))
                await tracker.aclose()
                return beat, first, then, tracker.outage.spooled

            beat, first, then, spooled = run(scenario)
        # Each call: the timeout, then its events fsync'd to the spool (a group write).
        assert max(first) < timeout + 0.15, first
        assert max(then) < 0.1, then
        assert spooled == len(first) + len(then) == Spool(spool_dir).count()
        return beat

    measured(attempt, f"Redis {kind}")


def test_when_redis_answers_again_the_spool_is_drained_off_the_loop(
    tmp_path: Path,
) -> None:
    """A paused Redis resumes: after DOWN_FOR the next call enqueues, and the spooled events
    follow (a spool file per check, in a thread), to the same pending lists."""
    spool_dir = tmp_path / "spool"
    with unreachable("paused", tmp_path) as (url, resume):
        settings = settings_for(url, spool_dir, redis={"socket_timeout": 0.2})
        client = redis.Redis.from_url(url)

        async def scenario() -> AsyncTracker:
            tracker = AsyncTracker(settings)
            tracker.tracker.trigger = lambda name: None
            await asyncio.gather(*(tracker.track("purchase", **purchase(n)) for n in range(1, 6)))
            resume()
            await asyncio.sleep(DOWN_FOR)
            await tracker.track("purchase", **purchase(6))
            await tracker.join()
            await tracker.aclose()
            return tracker

        tracker = run(scenario)
        assert tracker.outage.spooled == 5 and tracker.outage.drained == 5
        for provider in PROVIDERS:
            ids = sorted(e.telegram_id or 0 for e in pending(client, provider))
            assert ids == [1, 2, 3, 4, 5, 6]
        assert Spool(spool_dir).count() == 0
        client.close()


def test_on_unavailable_raise_raises_within_the_timeout(tmp_path: Path) -> None:
    with unreachable("silent", tmp_path) as (url, _):
        settings = settings_for(
            url, tmp_path, redis={"socket_timeout": 0.2}, producer={"on_unavailable": "raise"}
        )

        async def scenario() -> float:
            async with AsyncTracker(settings) as tracker:
                start = time.perf_counter()
                with pytest.raises(TrackingUnavailable):
                    await tracker.track("purchase", **purchase(1))
                return time.perf_counter() - start

        assert run(scenario) < 0.35


def test_same_scripts_and_keys_as_track(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """The sync and the async path share the Scripts object and write the same keys: an event
    id tracked by one is deduplicated by the other."""
    sync = Tracker(settings_for(redis_url, tmp_path))
    sync.trigger = lambda name: None

    async def scenario() -> None:
        async with AsyncTracker(tracker=sync) as tracker:
            assert tracker.intake.scripts is sync.intake.scripts
            sync.track("purchase", **purchase(1, event_id="order-1"))
            await tracker.track("purchase", **purchase(1, event_id="order-1"))
            await tracker.track("purchase", **purchase(2, event_id="order-2"))

    run(scenario)
    sync.close()
    for provider in PROVIDERS:
        assert [e.event_id for e in pending(redis_client, provider)] == ["order-1", "order-2"]
        stats = redis_client.hgetall(Keys(provider).stats)
        assert stats[b"deduplicated"] == b"1" and stats[b"enqueued"] == b"2"


@pytest.mark.parametrize("providers", [("graspil",), PROVIDERS], ids=["one-script", "multi-exec"])
def test_scripts_lost_by_a_redis_restart_are_loaded_again(
    providers: tuple[str, ...], redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(redis_url, tmp_path, providers)

    async def scenario() -> None:
        async with AsyncTracker(settings) as tracker:
            tracker.tracker.trigger = lambda name: None
            await tracker.track("purchase", **purchase(1))
            redis_client.script_flush()
            await tracker.track("purchase", **purchase(2))
            assert tracker.outage.spooled == 0

    run(scenario)
    for provider in providers:
        assert [e.telegram_id for e in pending(redis_client, provider)] == [1, 2]


def test_one_providers_broken_keys_spool_only_its_part(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """The Producer's own reading of a partial failure: graspil gets the event now, only
    grampixel's part waits in the spool (so nobody gets it twice after the drain)."""
    redis_client.set(Keys("grampixel").pending, "not a list")

    async def scenario() -> None:
        async with AsyncTracker(settings_for(redis_url, tmp_path)) as tracker:
            tracker.tracker.trigger = lambda name: None
            await tracker.track("purchase", **purchase(1, event_id="e-1"))

    run(scenario)
    assert [e.event_id for e in pending(redis_client, "graspil")] == ["e-1"]
    (spooled,) = tmp_path.glob("spool-*.jsonl")
    lines = spooled.read_text().splitlines()
    assert len(lines) == 1 and '"providers":["grampixel"]' in lines[0]


def test_a_bad_event_raises_at_once_and_enqueues_nothing(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with AsyncTracker(settings_for(redis_url, tmp_path)) as tracker:
            with pytest.raises(ValidationError) as caught:
                await tracker.track_many(
                    [{"name": "purchase", **purchase(1)}, {"name": "purchase", "value": 3}]
                )
            assert list(caught.value.errors) == ["events.1.currency"]

    run(scenario)
    assert redis_client.keys("tw:*") == []


def test_atrack_uses_one_tracker_per_loop_closed_by_aclose(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    default = tracking_worker.configure(settings_for(redis_url, tmp_path))
    default.trigger = lambda name: None
    seen: list[AsyncTracker] = []

    async def one_loop() -> None:
        await tracking_worker.atrack("purchase", **purchase(1))
        ids = await tracking_worker.atrack_many([{"name": "purchase", **purchase(2)}])
        assert len(ids) == 1
        (tracker,) = [t for loop, t in tracking_worker._Default.async_trackers.items()]
        assert tracker.tracker is default
        seen.append(tracker)
        await tracking_worker.aclose()
        assert tracker.client.connection_pool._in_use_connections == set()
        assert not tracking_worker._Default.async_trackers

    run(one_loop)
    run(one_loop)
    assert seen[0] is not seen[1]
    assert len(pending(redis_client, "graspil")) == 4

    # An AsyncTracker of your own is bound to the loop that first uses it.
    fresh = AsyncTracker(tracker=default)

    async def first_loop() -> None:
        await fresh.track("purchase", **purchase(3))
        await fresh.client.connection_pool.disconnect()

    run(first_loop)
    with pytest.raises(RuntimeError, match="event loop"):
        run(lambda: fresh.track("purchase", **purchase(4)))


def test_configure_again_replaces_this_loops_tracker(redis_url: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        tracking_worker.configure(settings_for(redis_url, tmp_path))
        await tracking_worker.atrack("purchase", **purchase(1))
        first = tracking_worker.get_async_tracker()
        tracking_worker.configure(settings_for(redis_url, tmp_path, ("graspil",)))
        await tracking_worker.atrack("purchase", **purchase(2))
        second = tracking_worker.get_async_tracker()
        assert second is not first and list(second.settings.providers) == ["graspil"]
        await asyncio.sleep(0)  # the replaced one closes once its work is done
        await tracking_worker.aclose()
        assert first._closed and second._closed

    run(scenario)
