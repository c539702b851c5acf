"""The web-side entry point: a Tracker validates and enqueues; it never sends HTTP.

One Tracker per configuration. The package-level ``track()`` uses a default one built from the
environment on first use, or the one ``configure()`` made. When Redis cannot be reached the
events go to the local spool (or ``TrackingUnavailable`` is raised, if so configured), and later
calls drain the spool in small chunks once Redis answers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .delivery import claim_size_for
from .errors import TrackingUnavailable
from .events import Normalized
from .producer import Producer
from .scripts import Scripts
from .settings import Settings
from .spool import Spool

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("tracking_worker")

#: After a failed round trip, skip Redis this long and spool at once: a web request during an
#: outage then costs a file append, not a connect timeout.
DOWN_FOR = 1.0
#: How often a call looks for spooled events, and how many it drains at most.
SPOOL_CHECK_EVERY = 1.0
SPOOL_CHUNK = 100
SPOOL_WARNING_EVERY = 60.0


class Tracker:
    """Holds the Redis client, the producer, the spool and (lazily) a Celery app for triggers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = producer_client(settings)
        providers = settings.build_providers()
        self.producer = Producer(
            self.client,
            Scripts(),
            providers,
            settings.delivery,
            self._trigger,
            key_prefix=settings.redis["key_prefix"],
            dedupe_ttl=float(settings.producer["dedupe_ttl"]),
            claim_sizes={n: claim_size_for(p) for n, p in providers.items()},
        )
        self.spool = Spool(settings.producer["spool_dir"])
        self._celery: Celery | None = None
        self._down_until = 0.0
        self._spool_check_at = 0.0
        self._warned_at = float("-inf")
        #: Events this Tracker spooled, and drained back into Redis, since it was built.
        self.spooled = 0
        self.drained = 0

    def track(self, name: str, **fields: Any) -> str:
        """Validate and enqueue one event; returns its event id."""
        valid = self.producer.validate([{"name": name, **fields}], single=True)
        self._enqueue(valid)
        return valid[0].event.event_id

    def track_many(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate all, then enqueue all in one round trip; one bad event enqueues none."""
        valid = self.producer.validate(events)
        self._enqueue(valid)
        return [item.event.event_id for item in valid]

    def drain_spool(self, limit: int = 1_000_000) -> int:
        """Enqueue spooled events now (``tracking-worker spool drain``); returns how many."""
        drained = self.spool.drain(self.producer.enqueue, limit=limit, chunk=SPOOL_CHUNK)
        self.drained += drained
        return drained

    def _enqueue(self, valid: list[Normalized]) -> None:
        now = time.monotonic()
        if now >= self._down_until:
            try:
                self.producer.enqueue(valid)
            except TrackingUnavailable as exc:
                self._down_until = now + DOWN_FOR
                self._fallback(valid, exc)
                return
            self._drain_some(now)
            return
        self._fallback(valid, TrackingUnavailable("Redis was unavailable a moment ago"))

    def _fallback(self, valid: list[Normalized], exc: TrackingUnavailable) -> None:
        if self.settings.producer["on_unavailable"] == "raise":
            raise exc
        try:
            self.spool.append(valid)
        except OSError as disk:
            raise TrackingUnavailable(f"{exc}; spooling failed too: {disk}") from None
        self.spooled += len(valid)
        now = time.monotonic()
        if now - self._warned_at >= SPOOL_WARNING_EVERY:
            self._warned_at = now
            log.warning("Redis unavailable (%s): events spooled to %s", exc, self.spool.directory)

    def _drain_some(self, now: float) -> None:
        if now < self._spool_check_at:
            return
        self._spool_check_at = now + SPOOL_CHECK_EVERY
        if not self.spool.has_events():
            return
        try:
            drained = self.spool.drain(self.producer.enqueue, limit=SPOOL_CHUNK)
        except TrackingUnavailable:
            self._down_until = time.monotonic() + DOWN_FOR
            return
        self.drained += drained
        if drained:
            log.info("drained %d spooled event(s) into Redis", drained)
            self._spool_check_at = now  # more may wait: the next call continues

    def _trigger(self, provider: str) -> None:
        from .celery_app import create_app, queue_name

        if self._celery is None:
            self._celery = create_app(self.settings)
            # A web request must not wait on kombu's publish retries: the tick starts it anyway.
            self._celery.conf.update(
                task_publish_retry=False,
                broker_connection_timeout=float(self.settings.redis["socket_timeout"]),
            )
        try:
            self._celery.send_task(
                "tracking_worker.deliver",
                args=[provider],
                kwargs={"flush": False},
                queue=queue_name(provider),
            )
        except Exception as exc:  # noqa: BLE001 - the beat tick starts it anyway
            log.warning(
                "%s: could not start a delivery now (%s); the next tick will",
                provider,
                type(exc).__name__,
            )

    def close(self) -> None:
        self.client.close()


def producer_client(settings: Settings) -> redis.Redis:
    """Bounded waits and no silent retries: ``socket_timeout`` is all a web request can lose."""
    timeout = float(settings.redis["socket_timeout"])
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
