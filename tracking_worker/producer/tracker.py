"""The web-side entry point: a Tracker validates and enqueues; it never sends HTTP.

One Tracker per configuration. The package-level ``track()`` uses a default one built from the
environment on first use, or the one ``configure()`` made. When Redis cannot be reached the
events go to the local spool (or ``TrackingUnavailable`` is raised, if so configured), and later
calls drain it, one small spool file per call, once Redis answers again.

Only ``ValidationError`` and ``TrackingUnavailable`` leave ``track()``: draining the spool and
starting a delivery are side work of a request and never fail it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from redis.cluster import RedisCluster

from .. import routing
from ..errors import StoreError, TrackingUnavailable
from ..events import Normalized
from ..settings import Settings
from ..store.cluster_intake import ClusterIntake
from ..store.connection import producer_client
from ..store.intake import Intake
from ..store.lua_scripts import Scripts
from ..store.replication import Replication
from ..store.roundtrip import RoundTrip
from .enqueue import Answers, Applied, EnqueuePlan, Producer
from .outage import SPOOL_CHUNK, Outage, partial_failure
from .spool import Spool

if TYPE_CHECKING:
    from celery import Celery

    from ..store.connection import Client

log = logging.getLogger("tracking_worker")


class Intercept(Protocol):
    """Takes a Tracker's validated events instead of Redis (``tracking_worker.testing``)."""

    def __call__(self, tracker: Tracker, valid: list[Normalized]) -> None: ...


class Tracker:
    """Holds the Redis client, the producer, the spool and (lazily) a Celery app for triggers."""

    #: While ``tracking_worker.testing.capture()`` runs, every Tracker (and every AsyncTracker
    #: over one) hands its validated events here at the step that would enqueue them, and
    #: makes no round trip; None otherwise. On the class, not each instance: a capture must
    #: also take the events of trackers built while it runs (a Flask app made in a test).
    intercept: ClassVar[Intercept | None] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = producer_client(settings)
        self.intake = _intake(settings, self.client)
        self.producer = Producer(
            settings.build_providers(),
            settings.delivery,
            dedupe_ttl=settings.producer.dedupe_ttl,
            window=settings.producer.idempotency_window,
        )
        self.spool = Spool(settings.producer.spool_dir)
        self.outage = Outage(settings.producer.on_unavailable, self.spool.directory)
        #: Starts a delivery of a provider whose batch just filled; never raises (the beat
        #: tick starts it anyway). Tests without a worker replace it.
        self.trigger: Callable[[str], None] = self._send_trigger
        self._celery: Celery | None = None

    def track(self, name: str, **fields: Any) -> str:
        """Validate and enqueue one event; returns its event id."""
        valid = self.producer.validate([{"name": name, **fields}], single=True)
        self.enqueue(valid)
        return valid[0].event.event_id

    def track_many(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate all, then enqueue all in one round trip; one bad event enqueues none."""
        valid = self.producer.validate(events)
        self.enqueue(valid)
        return [item.event.event_id for item in valid]

    def drain_spool(self, files: int | None = None) -> int:
        """Enqueue spooled events now (``tracking-worker spool drain``): every spool file, or
        ``files`` of them; returns how many events."""
        drained = self.spool.drain(self._enqueue_spooled, files=files, chunk=SPOOL_CHUNK)
        self.outage.drained += drained
        return drained

    def enqueue(self, valid: list[Normalized]) -> None:
        """Enqueue events already validated (``validate``): Redis, else the spool."""
        intercept = Tracker.intercept
        if intercept is not None:
            intercept(self, valid)
            return
        now = time.monotonic()
        skipped = self.outage.skipped(now)
        if skipped is not None:
            self._spool(valid, skipped)
            return
        plan = self.producer.plan(valid)
        try:
            applied = self._send(plan)
        except TrackingUnavailable as exc:
            self.outage.went_down(now)
            self._spool(plan.spooled(valid), exc)
            return
        if applied.failed:
            self._spool(plan.spooled(applied.failed), partial_failure(applied))
            if applied.unavailable:
                # A provider's node just failed to answer (one master of a cluster down or
                # hanging): the spool's parts for it would wait on it again, a second
                # socket_timeout in this call. A call that meets no such node drains it.
                return
        if self.outage.drain_due(now):
            with self.outage.draining(now) as drained:
                drained.count = self._drain_one_file()

    def enqueue_now(self, valid: list[Normalized], *, check: bool = False) -> Applied:
        """One round trip, no spool: raises TrackingUnavailable when nothing was enqueued;
        ``failed`` holds the parts of the providers that failed alone (each event addressed to
        them). ``check``: the events may be in Redis already; each provider takes an id once."""
        return self._send(self.producer.plan(valid, check=check))

    def _send(self, plan: EnqueuePlan) -> Applied:
        if not plan.routes:
            return Applied([], [])
        applied = self.producer.apply(plan, self._round_trip(plan))
        for name in applied.triggers:
            self.trigger(name)
        return applied

    def _round_trip(self, plan: EnqueuePlan) -> Answers:
        try:
            return self.intake.enqueue(plan.routes, plan.limits)
        except StoreError as exc:
            return exc

    def _spool(self, valid: list[Normalized], exc: TrackingUnavailable) -> None:
        with self.outage.spooling(len(valid), exc):
            self.spool.append(valid)

    def _drain_one_file(self) -> int:
        if not self.spool.has_events():
            return 0
        return self.spool.drain(self._enqueue_spooled, files=1, chunk=SPOOL_CHUNK)

    def _enqueue_spooled(self, part: list[Normalized]) -> None:
        """Drain step: a provider whose part fails again goes back to the spool alone."""
        failed = self.enqueue_now(part, check=True).failed
        if failed:
            self.spool.append(failed)

    def prepare_trigger(self) -> None:
        """Build the Celery app triggers are sent with, and import what its first send would:
        about 70 ms of imports, better paid once where they hold nothing up (AsyncTracker runs
        this in a thread before its first call returns). Never raises: triggers retry it."""
        try:
            routing.prepare(self._trigger_app())
        except Exception as exc:  # noqa: BLE001 - the first trigger will say what is wrong
            log.debug("preparing the trigger app failed: %r", exc)

    def _trigger_app(self) -> Celery:
        if self._celery is None:
            self._celery = routing.trigger_app(self.settings)
        return self._celery

    def _send_trigger(self, provider: str) -> None:
        try:
            routing.send_deliver(self._trigger_app(), provider, flush=False)
        except Exception as exc:  # noqa: BLE001 - the beat tick starts it anyway
            log.warning(
                "%s: could not start a delivery now (%s); the next tick will",
                provider,
                type(exc).__name__,
            )

    def close(self) -> None:
        self.client.close()


def _intake(settings: Settings, client: Client) -> Intake | ClusterIntake:
    """One Redis (or a Sentinel's master): every provider's enqueue in one round trip over a
    pinned connection. A cluster: each provider's to its own node (``cluster_intake.py``)."""
    conf = settings.redis
    if isinstance(client, RedisCluster):
        return ClusterIntake(client, Scripts(), conf.key_prefix, wait=conf.socket_timeout)
    trips = RoundTrip(client, settings.producer.reply_spin)
    return Intake(trips, Scripts(), conf.key_prefix, Replication(conf.wait_replicas))
