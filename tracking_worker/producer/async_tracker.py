"""``atrack()``: ``track()`` for asyncio code (aiogram bots, ASGI apps), never blocking the loop.

Nothing of the enqueue is written twice. The wrapped Tracker's Producer plans each call and
reads Redis's answers (``plan`` / ``apply``: no I/O); ``Outage`` decides when Redis is skipped,
what is spooled and when the spool is drained; ``store/intake.py`` lays out each ``enqueue.lua``
call (``call_args``) and reads each answer (``admitted``). Only the I/O is written here: the same
calls through the same ``Scripts`` over redis.asyncio, in one MULTI/EXEC (one EVALSHA alone
when a single provider is routed, as the sync Intake sends it), awaited; on a Redis Cluster,
``store/async_cluster_intake.py`` sends each provider's call to its own node.

What would block runs in this tracker's two threads, on the sync Tracker it wraps (so both share
one spool): spool writes, spool drains and the Celery trigger (kombu's client is blocking). The
trigger's Celery app is built, and its imports done, in a thread before the first call returns:
imported mid-stream, even in a thread, they held the loop for up to 28 ms.

One AsyncTracker per event loop: redis.asyncio connections belong to the loop that made them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import redis
import redis.asyncio as aioredis

from ..errors import StoreError, StoreUnavailable, TrackingUnavailable
from ..events import Normalized
from ..settings import Settings, load_settings
from ..store.async_cluster_intake import AsyncClusterIntake
from ..store.async_roundtrip import exchange, retry_not_run
from ..store.connection import async_producer_client, converted
from ..store.failover import NotRun
from ..store.intake import Admitted, Limits, Route, admitted, call_args, laid_out, read_back
from ..store.lua_scripts import Scripts, is_noscript, loaded
from ..store.replication import Replication
from .enqueue import Answers, Applied, EnqueuePlan
from .outage import Outage, partial_failure
from .tracker import Tracker

if TYPE_CHECKING:
    from ..store.connection import AsyncClient

log = logging.getLogger("tracking_worker")

#: Round trips in flight per AsyncTracker, hence Redis connections per event loop. Redis runs
#: one command at a time: more buys no throughput (measured: 1,000 calls from 20 clients take
#: the same time with 4 as with 20), only connections, and more answers handled in one turn of
#: the loop. Without a bound, a bot answering a burst of updates opens one per update.
MAX_IN_FLIGHT = 4


class AsyncIntake:
    """``Intake.enqueue`` over redis.asyncio, with its layout of each provider's
    ``enqueue.lua`` call and of the round trip (``laid_out``), its reading of the replies
    (``read_back``), its WAIT and its retries after a failover; repeated once after a
    NOSCRIPT."""

    def __init__(
        self,
        client: aioredis.Redis,
        scripts: Scripts,
        key_prefix: str,
        replication: Replication | None = None,
        *,
        wait: float = 0.0,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.key_prefix = key_prefix
        self.replication = replication or Replication(0)
        #: Seconds a call retries after a failover (the caller bounds it too).
        self.wait = wait

    async def enqueue(
        self, routes: Mapping[str, Route], limits: Limits
    ) -> dict[str, Admitted | StoreError]:
        deadline = time.monotonic() + self.wait
        with converted("enqueue"):
            try:
                answers = await self._tries(routes, limits, deadline)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if isinstance(exc, NotRun) or time.monotonic() >= deadline:
                    raise
                # Lost after Redis had it: again with each id looked up, as Intake does.
                checked = dataclasses.replace(limits, check=True)
                answers = await self._tries(routes, checked, deadline)
        return {name: admitted(answer) for name, answer in zip(routes, answers, strict=True)}

    async def _tries(
        self, routes: Mapping[str, Route], limits: Limits, deadline: float
    ) -> list[Any]:
        return await retry_not_run(lambda: self._loaded(routes, limits, deadline), deadline)

    async def _loaded(
        self, routes: Mapping[str, Route], limits: Limits, deadline: float
    ) -> list[Any]:
        answers = await self._once(routes, limits, deadline)
        if any(isinstance(a, redis.RedisError) and is_noscript(a) for a in answers):
            answers = await self._once(routes, limits, deadline, load=True)
        return answers

    async def _once(
        self, routes: Mapping[str, Route], limits: Limits, deadline: float, *, load: bool = False
    ) -> list[Any]:
        sha = self.scripts.sha["enqueue"]
        calls = [
            ("EVALSHA", sha, len(keys), *keys, *args)
            for keys, args in (
                call_args(name, route, limits, self.key_prefix) for name, route in routes.items()
            )
        ]
        wait = self.replication.command(deadline)
        replies = await exchange(self.client, self.scripts.loading(laid_out(calls, wait), load))
        answers = loaded(replies, self.scripts.loads(load))
        return read_back(answers, len(calls), wait, self.replication)


def _async_intake(client: AsyncClient, tracker: Tracker) -> AsyncIntake | AsyncClusterIntake:
    """The same Scripts object as the sync Intake's (one source and SHA1 of enqueue.lua), the
    same wait; on a cluster, each provider's call to its own node."""
    conf = tracker.settings.redis
    scripts, wait = tracker.intake.scripts, conf.socket_timeout
    if isinstance(client, aioredis.Redis):
        replication = tracker.intake.replication
        return AsyncIntake(client, scripts, conf.key_prefix, replication, wait=wait)
    return AsyncClusterIntake(client, scripts, conf.key_prefix, wait=wait)


class AsyncTracker:
    """``track``/``track_many`` as coroutines, wrapping a sync ``Tracker`` (its settings,
    providers, spool and trigger), over this loop's own redis.asyncio client."""

    #: Trackers replaced by ``configure()`` while still finishing their side work.
    _closing: ClassVar[set[asyncio.Task[None]]] = set()

    def __init__(self, settings: Settings | None = None, *, tracker: Tracker | None = None) -> None:
        self._owns_tracker = tracker is None
        if tracker is None:
            tracker = Tracker(settings or load_settings())
        elif settings is not None and settings is not tracker.settings:
            raise ValueError("give settings or a tracker, not both")
        self.tracker = tracker
        self.settings = tracker.settings
        self.client = async_producer_client(self.settings)
        self.intake = _async_intake(self.client, tracker)
        self.producer = tracker.producer  # plan and apply only: nothing of it is per call
        self.outage = Outage(self.settings.producer.on_unavailable, tracker.spool.directory)
        self._timeout = self.settings.redis.socket_timeout
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        # Blocking work, one thread each: spool appends (awaited by the caller; the Spool
        # writes one at a time anyway), and side work nobody awaits (Celery triggers, spool
        # drains), where a broker or Redis that does not answer holds up only more side work.
        self._spool_thread = ThreadPoolExecutor(1, thread_name_prefix="tw-async-spool")
        self._side_thread = ThreadPoolExecutor(1, thread_name_prefix="tw-async-side")
        self._spool_thread.submit(int)  # started now, not in the middle of an outage's burst
        #: The trigger app's imports, done now in the side thread; the first call waits for
        #: them (see the module's docstring).
        self._prepared: Future[None] | None = self._side_thread.submit(tracker.prepare_trigger)
        self._to_spool: list[tuple[list[Normalized], asyncio.Future[None]]] = []
        self._spooling = False
        self._pending: set[asyncio.Future[Any]] = set()
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._closed = False
        self._draining = False

    async def track(self, name: str, **fields: Any) -> str:
        """Validate and enqueue one event; returns its event id."""
        await self._ready()
        valid = self.producer.validate([{"name": name, **fields}], single=True)
        await self._enqueue(valid)
        return valid[0].event.event_id

    async def track_many(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate all, then enqueue all in one round trip; one bad event enqueues none."""
        await self._ready()
        valid = self.producer.validate(events)
        await self._enqueue(valid)
        return [item.event.event_id for item in valid]

    async def _ready(self) -> None:
        self._check_loop()
        prepared = self._prepared
        if prepared is not None:
            if not prepared.done():
                await asyncio.wrap_future(prepared)
            self._prepared = None

    async def _enqueue(self, valid: list[Normalized]) -> None:
        intercept = Tracker.intercept
        if intercept is not None:  # a test's capture (Tracker.intercept): no round trip
            intercept(self.tracker, valid)
            return
        now = time.monotonic()
        skipped = self.outage.skipped(now)
        if skipped is not None:
            await self._spool(valid, skipped)
            return
        plan = self.producer.plan(valid)
        try:
            applied = await self._send(plan)
        except TrackingUnavailable as exc:
            self.outage.went_down(now)
            await self._spool(plan.spooled(valid), exc)
            return
        if applied.failed:
            await self._spool(plan.spooled(applied.failed), partial_failure(applied))
            if applied.unavailable:  # as Tracker.enqueue: the drain would wait on that node
                return
        if not self._draining and self.outage.drain_due(now):
            self._draining = True
            self._keep(asyncio.ensure_future(self._drain_one_file(now)))

    async def _send(self, plan: EnqueuePlan) -> Applied:
        """``Tracker._send`` with its round trip awaited: at most ``socket_timeout`` on Redis,
        connecting included."""
        if not plan.routes:
            return Applied([], [])
        applied = self.producer.apply(plan, await self._round_trip(plan))
        for name in applied.triggers:
            self._trigger(name)
        return applied

    async def _round_trip(self, plan: EnqueuePlan) -> Answers:
        """The Intake's round trip within ``socket_timeout``, waiting for a slot included."""
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self._timeout):
                    return await self._in_slot(plan)
            return await asyncio.wait_for(self._in_slot(plan), self._timeout)
        except asyncio.TimeoutError:
            return StoreUnavailable(f"enqueue: Redis did not answer within {self._timeout:g}s")
        except StoreError as exc:
            return exc

    async def _in_slot(self, plan: EnqueuePlan) -> dict[str, Admitted | StoreError]:
        async with self._slots:
            if self.outage.skipped(time.monotonic()):  # found down while this call waited
                raise StoreUnavailable("enqueue: Redis was unavailable a moment ago")
            return await self.intake.enqueue(plan.routes, plan.limits)

    async def _spool(self, valid: list[Normalized], exc: TrackingUnavailable) -> None:
        with self.outage.spooling(len(valid), exc):
            await self._append(valid)

    async def _append(self, valid: list[Normalized]) -> None:
        """Append and fsync in the spool thread. Appends that arrive while one is written go
        out together in the next write: a burst of callers during an outage costs two fsyncs,
        not one each in a row (the Spool writes one append at a time)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._to_spool.append((valid, done))
        if not self._spooling:
            self._spooling = True
            self._keep(loop.create_task(self._write_spool()))
        await done

    async def _write_spool(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._to_spool:
                batch, self._to_spool = self._to_spool, []
                items = [item for valid, _ in batch for item in valid]
                failure: OSError | None = None
                try:
                    await loop.run_in_executor(self._spool_thread, self.tracker.spool.append, items)
                except OSError as exc:
                    failure = exc
                for _, done in batch:
                    if done.done():  # its caller was cancelled; its events are written anyway
                        continue
                    if failure is None:
                        done.set_result(None)
                    else:
                        done.set_exception(failure)
        finally:
            self._spooling = False

    async def _drain_one_file(self, now: float) -> None:
        """Move one spool file into Redis in the side thread: the caller's own events are
        enqueued and it does not wait for this."""
        loop = asyncio.get_running_loop()
        try:
            with self.outage.draining(now) as drained:
                drained.count = await loop.run_in_executor(self._side_thread, self._drain_in_thread)
        finally:
            self._draining = False

    def _drain_in_thread(self) -> int:
        if not self.tracker.spool.has_events():
            return 0
        return self.tracker.drain_spool(files=1)

    def _trigger(self, provider: str) -> None:
        """A batch is full: the Tracker's own trigger, which never raises, sends the Celery
        message from the side thread."""
        loop = asyncio.get_running_loop()
        send = self.tracker.trigger  # looked up now: a test may have replaced it
        self._keep(loop.run_in_executor(self._side_thread, send, provider))

    def _keep(self, future: asyncio.Future[Any]) -> None:
        """Side work is awaited by ``aclose()``; a failure is logged, never lost."""
        self._pending.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("tracking side work failed", exc_info=future.exception())

    def _check_loop(self) -> None:
        if self._closed:
            raise RuntimeError("this AsyncTracker is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = weakref.ref(loop)
        elif self._loop() is not loop:
            raise RuntimeError(
                "an AsyncTracker belongs to the event loop it was first used on: make one per "
                "loop (tracking_worker.atrack does)"
            )

    async def join(self) -> None:
        """Wait for the side work started so far: triggers sent, a spool drain done."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Finish side work (drains, triggers), then close the Redis connections; the wrapped
        Tracker too, when this AsyncTracker made it."""
        if self._closed:
            return
        self._closed = True
        await self.join()
        for pool in (self._spool_thread, self._side_thread):
            pool.shutdown(wait=False)  # idle, but for a preparation no call waited for
        await self.client.aclose()
        if self._owns_tracker:
            await asyncio.to_thread(self.tracker.close)

    def close_later(self) -> None:
        """Close once in-flight work is done, from the running loop (a replaced tracker)."""
        task = asyncio.get_running_loop().create_task(self.aclose())
        AsyncTracker._closing.add(task)
        task.add_done_callback(AsyncTracker._closing.discard)

    async def __aenter__(self) -> AsyncTracker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
