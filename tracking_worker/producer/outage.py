"""What a tracker does while Redis cannot take its events: one policy for both trackers.

After a failed round trip Redis is skipped for ``DOWN_FOR`` and events go straight to the spool
(or ``TrackingUnavailable`` is raised, if so configured): a web request during an outage then
costs a file append, not a connect timeout. Once Redis answers again, calls move the spool back
into Redis one file at a time, at most once per ``SPOOL_CHECK_EVERY``. ``Tracker`` and
``AsyncTracker`` differ only in how they spool and drain (inline, or in a thread); when and what
is decided here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import PartlyEnqueued, TrackingUnavailable
from .enqueue import Applied
from .throttle import WarningThrottle

log = logging.getLogger("tracking_worker")

#: After a failed round trip, skip Redis this long and spool at once.
DOWN_FOR = 1.0
#: How often a call looks for spooled events (it then drains one spool file, at most
#: ``Spool.max_lines`` events), and how many events go to Redis per round trip.
SPOOL_CHECK_EVERY = 1.0
SPOOL_CHUNK = 100
#: After draining failed for a reason other than Redis being down (a bug, an unreadable spool
#: directory), leave the spool alone this long: the error is logged once per try, not per call.
SPOOL_BACKOFF = 30 * SPOOL_CHECK_EVERY
SPOOL_WARNING_EVERY = 60.0


def partial_failure(applied: Applied) -> PartlyEnqueued:
    """Why the parts of the providers that failed alone are spooled (or, so configured, what
    the caller is told: who has the events, who does not, and the ids to retry with)."""
    ids = list(dict.fromkeys(item.event.event_id for item in applied.failed))
    reasons = "; ".join(f"{name}: {error}" for name, error in sorted(applied.errors.items()))
    message = (
        f"enqueued for {', '.join(sorted(applied.enqueued))}; not for "
        f"{', '.join(sorted(applied.errors))} ({reasons})"
    )
    return PartlyEnqueued(
        message, enqueued=sorted(applied.enqueued), failed=sorted(applied.errors), event_ids=ids
    )


class Drained:
    """Filled in by the code inside ``Outage.draining``: how many events it moved."""

    count = 0


class Outage:
    """One tracker's view of Redis being down, and of its spool; holds no I/O of its own."""

    def __init__(
        self,
        on_unavailable: str,
        spool_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.raises = on_unavailable == "raise"
        self.spool_dir = spool_dir
        self.clock = clock
        self._down_until = 0.0
        self._spool_check_at = 0.0
        self._may_warn = WarningThrottle(SPOOL_WARNING_EVERY, clock)
        #: Events this tracker spooled, and drained back into Redis, since it was built.
        self.spooled = 0
        self.drained = 0

    def skipped(self, now: float) -> TrackingUnavailable | None:
        """Why Redis is not asked now (it failed a moment ago), or None: ask it."""
        if now < self._down_until:
            return TrackingUnavailable("Redis was unavailable a moment ago")
        return None

    def went_down(self, now: float) -> None:
        """A round trip started at ``now`` failed: skip Redis for a while."""
        self._down_until = now + DOWN_FOR

    @contextlib.contextmanager
    def spooling(self, count: int, exc: TrackingUnavailable) -> Iterator[None]:
        """Around writing ``count`` events to the spool because of ``exc``: raises ``exc``
        instead when so configured (before anything is written), turns a disk error into
        TrackingUnavailable, then counts them and warns at most once a minute."""
        if self.raises:
            raise exc
        try:
            yield
        except OSError as disk:
            raise TrackingUnavailable(f"{exc}; spooling failed too: {disk}") from None
        self.spooled += count
        if isinstance(exc, PartlyEnqueued):  # not throttled: a provider's keys need a look
            log.error("enqueue partly failed, the failed part is spooled: %s", exc)
        elif self._may_warn("spooled"):
            log.warning("Redis unavailable (%s): events spooled to %s", exc, self.spool_dir)

    def drain_due(self, now: float) -> bool:
        """Whether this call should move a spool file into Redis (its own events went in)."""
        if now < self._spool_check_at:
            return False
        self._spool_check_at = now + SPOOL_CHECK_EVERY
        return True

    @contextlib.contextmanager
    def draining(self, now: float) -> Iterator[Drained]:
        """Around one spool drain started at ``now``, which never fails its caller: Redis down
        again skips it for a while; any other error is logged with its traceback and the spool
        left alone for SPOOL_BACKOFF; a drain that moved events lets the next call go on."""
        drained = Drained()
        try:
            yield drained
        except TrackingUnavailable:
            self.went_down(self.clock())
            return
        except Exception:  # logged with its traceback, tried again after SPOOL_BACKOFF
            self._spool_check_at = now + SPOOL_BACKOFF
            log.exception("draining the spool failed; next try in %.0f s", SPOOL_BACKOFF)
            return
        self.drained += drained.count
        if drained.count:
            log.info("drained %d spooled event(s) into Redis", drained.count)
            self._spool_check_at = now  # more may wait: the next call continues
