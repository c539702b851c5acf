"""What a round's results mean: pure functions of values, tested from tables without Redis.

A round is one claimed batch: screened (what can never be sent is dead at once), sent, and then
judged twice: what it says about the provider (``round_health``: the circuit's input) and where
each event goes (``settle_round``: delivered, retried at a due time, or dead with a reason).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..events import Event, event_id_of
from ..outcomes import (
    Configuration,
    Credentials,
    Delivered,
    MappingFailed,
    NotYet,
    Outcome,
    Reject,
    Retry,
)
from ..settings import DeliverySettings
from ..store.circuit import (
    CONFIGURATION,
    CREDENTIALS,
    FAILURE,
    NOTHING,
    REJECTED,
    SUCCESS,
    THROTTLE,
    Heard,
)
from ..store.queue import DeadEvent, Settlement
from .backoff import compute_backoff

#: A serialized event and its parsed form.
Item = tuple[str, Event]
Redact = Callable[[str], str]


@dataclass(frozen=True)
class Screened:
    """A claimed batch split into what may be sent and what is dead before sending."""

    live: list[Item] = field(default_factory=list)
    dead: list[DeadEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Health:
    """What one round says about the provider: the circuit breaker's input."""

    kind: Heard
    #: The provider's own wait (Retry-After, throttling), already bounded.
    wait: float = 0.0
    reason: str = ""
    #: How many failures the round counts as (one per request sent).
    failures: int = 0
    #: The setting a configuration answer names.
    setting: str = ""


def screen(
    raws: Sequence[str],
    *,
    attempts: int,
    last_error: str,
    now: float,
    delivery: DeliverySettings,
) -> Screened:
    """Parse the batch and drop what can never be sent: malformed, too old, too tried."""
    screened = Screened()
    for raw in raws:
        try:
            event = Event.from_json(raw)
            age = now - float(event.queued_at)
        except (ValueError, TypeError) as exc:
            screened.dead.append(DeadEvent(raw, f"malformed: {exc}", "malformed"))
            continue
        if age > delivery.max_age:
            reason = _with_last(f"expired: older than max_age ({delivery.max_age:g}s)", last_error)
            screened.dead.append(DeadEvent(raw, reason, "expired"))
        elif attempts >= delivery.max_attempts:
            reason = _with_last(f"expired: {attempts} attempts used", last_error)
            screened.dead.append(DeadEvent(raw, reason, "expired"))
        else:
            screened.live.append((raw, event))
    return screened


def next_width(width: int, *, healthy: bool, latency: float | None, cpu: float, most: int) -> int:
    """How many batches the next round sends at once, after a round of ``width``.

    Back to one after any failure: a failing or throttling provider gets one request at a time
    (its circuit opens at the threshold, its Retry-After is met). While rounds succeed the width
    doubles, up to what hides the provider's latency and no further: a worker process does its
    Python work one thread at a time (the GIL), ``cpu`` seconds of it per batch, so while one
    request waits ``latency`` seconds for its answer about ``latency / cpu`` other batches can
    be worked on. More at once than that only adds threads contending for the GIL: a provider
    answering in 50 ms keeps every connection busy, one answering at once gets two batches at a
    time. ``latency`` is the round's quickest request (the others include waits for the GIL);
    None when nothing was sent, which leaves only ``most`` as the bound.
    """
    if not healthy:
        return 1
    if latency is not None and cpu > 0:
        most = min(most, 1 + math.ceil(latency / cpu))
    return min(most, width * 2)


def take_from_pending(pending: int, *, full: int, waited: float, wait: float, flush: bool) -> int:
    """How many pending events a claim takes: a full batch (``full`` events) as soon as one is
    pending; a partial batch only when flushing and its oldest event has ``waited`` at least
    ``wait`` seconds (then all of it); otherwise none, so a partial batch fills up.

    The rule ``claim.lua`` and ``due.lua`` apply inside Redis, stated here so it can be read and
    tested from a table (tests hold the scripts to it).
    """
    if pending >= full:
        return full
    if pending > 0 and flush and waited >= wait:
        return pending
    return 0


def round_health(
    outcomes: Sequence[Outcome], *, requests: int, delivery: DeliverySettings
) -> Health:
    """One circuit record per round. A round that sent nothing says nothing about the provider
    (it must neither close an open circuit nor reset its cooldown); a failed round counts as
    many failures as it sent requests. A route's configuration answer says nothing about the
    provider (its route is paused apart); a round whose every event was rejected for one
    reason is REJECTED, which counts towards a reject storm. A "not yet" answer is the provider
    answering fine about a person it does not know yet: like a delivery, it never makes a round
    a failure."""
    outcomes = [o for o in outcomes if not (isinstance(o, Retry) and not o.sent)]
    if requests == 0:
        return Health(NOTHING)
    creds = [o for o in outcomes if isinstance(o, Credentials)]
    if creds:
        return Health(CREDENTIALS, reason=creds[0].reason)
    config = [o for o in outcomes if isinstance(o, Configuration) and o.route is None]
    if config:
        return Health(CONFIGURATION, reason=config[0].reason, setting=config[0].setting)
    outcomes = [o for o in outcomes if not isinstance(o, Configuration)]
    throttles = [o for o in outcomes if isinstance(o, Retry) and o.throttled]
    if throttles:
        # At least one cooldown: "Retry-After: 0" must not turn into a tight loop.
        asked = max(_asked(throttles), delivery.breaker_cooldown)
        return Health(THROTTLE, bounded_wait(asked, delivery), throttles[0].reason)
    failures = [o for o in outcomes if isinstance(o, Retry)]
    if failures and not any(isinstance(o, Delivered | NotYet) for o in outcomes):
        wait = bounded_wait(_asked(failures), delivery)
        return Health(FAILURE, wait, failures[0].reason, requests)
    rejects = {o.reason for o in outcomes if type(o) is Reject}
    if outcomes and len(rejects) == 1 and all(type(o) is Reject for o in outcomes):
        return Health(REJECTED, reason=rejects.pop())
    return Health(SUCCESS)


def settle_round(
    results: Sequence[tuple[str, Outcome]],
    *,
    attempts: int,
    open_until: float,
    delivery: DeliverySettings,
    redact: Redact,
    rand: random.Random,
    storm: bool = False,
) -> Settlement:
    """Where each sent event goes. Retried events go back together as one batch, due after a
    backoff (or the provider's own wait), never before the circuit reopens (``open_until``,
    Redis time); a throttled round, events never sent, or events kept by a pause (our
    settings, a reject ``storm`` that paused the provider) use up no attempt. Events of a
    paused route are parked by route.

    A "not yet" event (``NotYet``) is tried again after ``delivery.not_yet_delays[attempts]``
    (``attempts``: the batch's tries before this round), not the backoff; once the list is used
    up it is dead with the provider's words, kind ``not_yet``. The retried events share one due
    time: a batch of "not yet" events only waits its not-yet delay; mixed with other counted
    retries it waits the shorter of that delay and the backoff (an early try costs one request,
    a late one may lose a conversion), never less than the provider's own wait.
    """
    settlement = Settlement()
    retry: list[tuple[str, Outcome]] = []
    for raw, outcome in results:
        if isinstance(outcome, Delivered):
            settlement.delivered += 1
            delivered_id = event_id_of(raw)
            if delivered_id is not None:
                settlement.delivered_ids.append(delivered_id)
        elif isinstance(outcome, Configuration) and outcome.route is not None:
            settlement.parked.setdefault(outcome.route, []).append(raw)
        elif isinstance(outcome, NotYet) and attempts >= len(delivery.not_yet_delays):
            tries = f"{attempts + 1} {'try' if attempts == 0 else 'tries'}"
            reason = redact(f"{outcome.reason} (not yet after {tries})")
            excerpt = redact(outcome.excerpt)
            settlement.dead.append(DeadEvent(raw, reason, "not_yet", outcome.status, excerpt))
        elif isinstance(outcome, Reject) and not (storm and type(outcome) is Reject):
            kind = "mapping" if isinstance(outcome, MappingFailed) else "rejected"
            reason, excerpt = redact(outcome.reason), redact(outcome.excerpt)
            settlement.dead.append(DeadEvent(raw, reason, kind, outcome.status, excerpt))
        else:
            retry.append((raw, outcome))
    if retry:
        _schedule(settlement, retry, attempts, open_until, delivery, redact, rand)
    return settlement


def _schedule(
    settlement: Settlement,
    retry: Sequence[tuple[str, Outcome]],
    attempts: int,
    open_until: float,
    delivery: DeliverySettings,
    redact: Redact,
    rand: random.Random,
) -> None:
    outcomes = [o for _, o in retry]
    counted = any(_counts(o) for o in outcomes)
    last = redact(getattr(outcomes[0], "reason", ""))
    used = attempts + (1 if counted else 0)
    if counted and used >= delivery.max_attempts:
        reason = f"expired: {used} attempts used; last error: {last}"
        settlement.dead += [DeadEvent(raw, reason, "expired", _status(o)) for raw, o in retry]
        return
    if counted:
        backoff = compute_backoff(
            used - 1, base=delivery.backoff_base, cap=delivery.backoff_cap, rand=rand
        )
        delay = _not_yet_delay(outcomes, backoff, attempts, delivery)
        settlement.retry_delay = max(bounded_wait(_asked(outcomes), delivery), delay)
    settlement.retry = [raw for raw, _ in retry]
    settlement.not_before = open_until
    settlement.count_attempt = counted
    settlement.last_error = last


def _counts(outcome: Outcome) -> bool:
    """Whether the event's try uses up an attempt: a "not yet" answer does (it moves along
    its schedule), a throttle or an unsent event does not."""
    if isinstance(outcome, NotYet):
        return True
    return isinstance(outcome, Retry) and outcome.sent and not outcome.throttled


def _not_yet_delay(
    outcomes: Sequence[Outcome], backoff: float, attempts: int, delivery: DeliverySettings
) -> float:
    """The retry batch's delay: the not-yet schedule's for "not yet" events alone, the shorter
    of it and the backoff when mixed with other retries, the backoff without any."""
    not_yet = [isinstance(o, NotYet) for o in outcomes]
    if not any(not_yet):
        return backoff
    wait = delivery.not_yet_delays[attempts]
    return wait if all(not_yet) else min(wait, backoff)


def bounded_wait(wait: float, delivery: DeliverySettings) -> float:
    """A provider's own wait, capped: a Retry-After of years must not pause it for years."""
    return min(wait, delivery.breaker_cooldown_cap)


def _asked(outcomes: Sequence[Outcome]) -> float:
    return max((o.after or 0.0 for o in outcomes if isinstance(o, Retry)), default=0.0)


def _with_last(reason: str, last_error: str) -> str:
    return f"{reason}; last error: {last_error}" if last_error else reason


def _status(outcome: Outcome) -> int | None:
    return getattr(outcome, "status", None)
