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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import routing
from ..errors import TrackingUnavailable
from ..events import Normalized
from ..settings import Settings
from ..store.connection import producer_client
from ..store.intake import Intake
from ..store.lua_scripts import Scripts
from ..store.roundtrip import RoundTrip
from .enqueue import Producer
from .spool import Spool
from .throttle import WarningThrottle

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("tracking_worker")

#: After a failed round trip, skip Redis this long and spool at once: a web request during an
#: outage then costs a file append, not a connect timeout.
DOWN_FOR = 1.0
#: How often a call looks for spooled events (it then drains one spool file, at most
#: ``Spool.max_lines`` events), and how many events go to Redis per round trip.
SPOOL_CHECK_EVERY = 1.0
SPOOL_CHUNK = 100
#: After draining failed for a reason other than Redis being down (a bug, an unreadable spool
#: directory), leave the spool alone this long: the error is logged once per try, not per call.
SPOOL_BACKOFF = 30 * SPOOL_CHECK_EVERY
SPOOL_WARNING_EVERY = 60.0


class Tracker:
    """Holds the Redis client, the producer, the spool and (lazily) a Celery app for triggers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = producer_client(settings)
        providers = settings.build_providers()
        self.producer = Producer(
            Intake(
                RoundTrip(self.client, settings.producer.reply_spin),
                Scripts(),
                settings.redis.key_prefix,
            ),
            providers,
            settings.delivery,
            self._trigger,
            dedupe_ttl=settings.producer.dedupe_ttl,
        )
        self.spool = Spool(settings.producer.spool_dir)
        self._celery: Celery | None = None
        self._down_until = 0.0
        self._spool_check_at = 0.0
        self._may_warn = WarningThrottle(SPOOL_WARNING_EVERY)
        #: Events this Tracker spooled, and drained back into Redis, since it was built.
        self.spooled = 0
        self.drained = 0

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
        self.drained += drained
        return drained

    def enqueue(self, valid: list[Normalized]) -> None:
        """Enqueue events already validated (``validate``): Redis, else the spool."""
        now = time.monotonic()
        if now >= self._down_until:
            try:
                failed = self.producer.enqueue(valid)
            except TrackingUnavailable as exc:
                self._down_until = now + DOWN_FOR
                self._fallback(valid, exc)
                return
            if failed:
                names = sorted({p for item in failed for p in item.providers})
                self._fallback(failed, TrackingUnavailable(f"enqueue failed for {names}"))
            self._drain_some(now)
            return
        self._fallback(valid, TrackingUnavailable("Redis was unavailable a moment ago"))

    def _fallback(self, valid: list[Normalized], exc: TrackingUnavailable) -> None:
        if self.settings.producer.on_unavailable == "raise":
            raise exc
        try:
            self.spool.append(valid)
        except OSError as disk:
            raise TrackingUnavailable(f"{exc}; spooling failed too: {disk}") from None
        self.spooled += len(valid)
        if self._may_warn("spooled"):
            log.warning("Redis unavailable (%s): events spooled to %s", exc, self.spool.directory)

    def _drain_some(self, now: float) -> None:
        """Move one spool file into Redis, at most once per SPOOL_CHECK_EVERY; never raises,
        since the request's own events are already enqueued."""
        if now < self._spool_check_at:
            return
        self._spool_check_at = now + SPOOL_CHECK_EVERY
        try:
            drained = self._drain_one_file()
        except TrackingUnavailable:
            self._down_until = time.monotonic() + DOWN_FOR
            return
        except Exception:  # logged with its traceback, tried again after SPOOL_BACKOFF
            self._spool_check_at = now + SPOOL_BACKOFF
            log.exception("draining the spool failed; next try in %.0f s", SPOOL_BACKOFF)
            return
        self.drained += drained
        if drained:
            log.info("drained %d spooled event(s) into Redis", drained)
            self._spool_check_at = now  # more may wait: the next call continues

    def _drain_one_file(self) -> int:
        if not self.spool.has_events():
            return 0
        return self.spool.drain(self._enqueue_spooled, files=1, chunk=SPOOL_CHUNK)

    def _enqueue_spooled(self, part: list[Normalized]) -> None:
        """Drain step: a provider whose part fails again goes back to the spool alone."""
        failed = self.producer.enqueue(part)
        if failed:
            self.spool.append(failed)

    def _trigger(self, provider: str) -> None:
        try:
            if self._celery is None:
                self._celery = routing.trigger_app(self.settings)
            routing.send_deliver(self._celery, provider, flush=False)
        except Exception as exc:  # noqa: BLE001 - the beat tick starts it anyway
            log.warning(
                "%s: could not start a delivery now (%s); the next tick will",
                provider,
                type(exc).__name__,
            )

    def close(self) -> None:
        self.client.close()
