"""What a batch's outcome says to the operator: one log line, and a report per kind of dead
letter (Sentry), both from the settlement the batch was recorded with."""

from __future__ import annotations

import logging
from collections import Counter

from ..store.queue import Batch, Settlement
from .bisect import Round
from .pauses import Report

log = logging.getLogger("tracking_worker.delivery")


def log_batch(
    provider: str, batch: Batch, settlement: Settlement, sent: Round, seconds: float
) -> None:
    """One line per batch outcome (plain or JSON, see worker/observability): what went, what
    the provider answered, how long it took, never an event's content. One event delivered
    is the steady trickle of a quiet system: DEBUG; a batch, a retry, a drop or a dead letter
    is news: INFO."""
    single = len(batch.events) == 1 and settlement.delivered == 1
    level = logging.DEBUG if single else logging.INFO
    if not log.isEnabledFor(level):
        return  # nothing to build: a batch's line is a measurable part of a worker's CPU
    outcome = "delivered"
    if settlement.dead:
        outcome = "dead" if not (settlement.delivered or settlement.retry) else "mixed"
    elif settlement.retry:
        outcome = "retry" if not settlement.delivered else "mixed"
    statuses = Counter(klass for klass, _ in sent.timings)
    log.log(
        level,
        "%s: batch %s: %d event(s), %d request(s) [%s] in %.3fs: %s "
        "(delivered %d, retry %d, dead %d, dropped %d)",
        provider,
        batch.id,
        len(batch.events),
        sent.requests,
        " ".join(f"{k}:{n}" for k, n in sorted(statuses.items())) or "none",
        seconds,
        outcome,
        settlement.delivered,
        len(settlement.retry),
        len(settlement.dead),
        len(settlement.dropped),
        extra={
            "provider": provider,
            "batch": batch.id,
            "events": len(batch.events),
            "requests": sent.requests,
            "statuses": dict(statuses),
            "seconds": round(seconds, 3),
            "outcome": outcome,
        },
    )


def report_dead(report: Report | None, provider: str, settlement: Settlement) -> None:
    """One report per kind of dead letter in this batch (they group by provider and kind)."""
    if report is None or not settlement.dead:
        return
    by_kind: dict[str, list[str]] = {}
    for dead in settlement.dead:
        by_kind.setdefault(dead.kind, []).append(dead.reason)
    for kind, reasons in by_kind.items():
        report(kind, provider, reasons[0], len(reasons))
