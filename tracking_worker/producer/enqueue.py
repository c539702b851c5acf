"""Validate, route, and read what Redis did: the producer's core, with no I/O of its own.

``Producer.plan`` lays out what one call sends (each provider's route); the tracker makes the
round trip its own way (``Tracker`` blocking, ``AsyncTracker`` awaited); ``Producer.apply``
reads the answers: which providers to start a delivery for, and which providers' parts failed
(for the tracker to spool). Both trackers drive this one core, so routing and the reading of
answers are written once and run once per call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any

from ..errors import StoreError, StoreUnavailable, TrackingUnavailable, ValidationError
from ..events import EventSchema, Normalized, normalize, time_of
from ..people import event_members
from ..providers.base import Provider
from ..settings import DeliverySettings
from ..store.codec import Arg, batch_key, id_key, new_batch
from ..store.intake import Admitted, Limits, Route
from .throttle import WarningThrottle

#: A batch this large validates with the cyclic collector paused (see ``collector_paused``).
PAUSE_COLLECTOR_AT = 1000

log = logging.getLogger("tracking_worker.producer")

#: A warning about the same thing (a full list, a removed provider) at most this often.
WARNING_EVERY = 60.0

#: What Redis answered for a plan: per provider, what enqueue.lua did or why it failed; or the
#: one error of the whole round trip.
Answers = Mapping[str, Admitted | StoreError] | StoreError


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueuePlan:
    """One call's round trip, laid out: each routed provider's part (none: no round trip)."""

    valid: list[Normalized]
    routes: dict[str, Route]
    limits: Limits
    #: A multi-event call's mark (see ``Producer.plan``); "" for one event.
    batch: str = ""

    def spooled(self, items: list[Normalized]) -> list[Normalized]:
        """``items`` of this call as the spool keeps them: with the call's mark, so the drain
        asks whether this call ran before enqueueing them again."""
        if not self.batch:
            return items
        return [dataclasses.replace(item, batch=self.batch) for item in items]


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """What the answers mean for the caller: the providers whose batch just filled (start a
    delivery now), and each event that failed, addressed to its failed providers alone."""

    triggers: list[str]
    failed: list[Normalized]
    #: The providers that took their part, and why the others' failed.
    enqueued: list[str] = dataclasses.field(default_factory=list)
    errors: dict[str, StoreError] = dataclasses.field(default_factory=dict)
    #: Per provider that had some of its events already (their ids taken): how many.
    deduplicated: dict[str, int] = dataclasses.field(default_factory=dict)
    #: The plan's routes these answers are for (which events went where).
    routes: dict[str, Route] = dataclasses.field(default_factory=dict)
    #: Per provider that dropped events of suppressed people: how many.
    suppressed: dict[str, int] = dataclasses.field(default_factory=dict)
    #: The ids of those events (dropped for at least one provider).
    suppressed_ids: frozenset[str] = frozenset()

    @property
    def unavailable(self) -> bool:
        """Some provider's part failed because its Redis (a cluster node) could not be reached
        or did not answer: a spool drain now would wait on it again."""
        return any(isinstance(error, StoreUnavailable) for error in self.errors.values())


class Producer:
    """Validates events, plans their enqueue and reads Redis's answers; never calls Redis."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        delivery: DeliverySettings,
        *,
        dedupe_ttl: float = 86400.0,
        window: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = dict(providers)
        self.clock = clock
        self.limits = Limits(
            max_pending=delivery.max_pending,
            trigger_ttl_ms=delivery.trigger_ttl_ms,
            dedupe_ttl=dedupe_ttl,
            window=window,
            receipts_ttl=delivery.receipts_ttl,
            # A full batch (what one claim takes) starts a delivery at once.
            full_batch={
                name: p.claim_size(delivery.lease_seconds) for name, p in providers.items()
            },
        )
        #: The same, for events that may have been enqueued already (see ``plan``).
        self.checked_limits = dataclasses.replace(self.limits, check=True)
        self.schema = EventSchema()
        #: The providers that check values their API types (``Provider.check_event``).
        self._checkers = [
            (name, p.check_event)
            for name, p in self.providers.items()
            if type(p).check_event is not Provider.check_event
        ]
        self._may_warn = WarningThrottle(WARNING_EVERY, clock)

    def validate(
        self, items: Iterable[Mapping[str, Any]], *, single: bool = False
    ) -> list[Normalized]:
        """Normalize every item or raise one ValidationError naming every bad field."""
        if isinstance(items, (str, bytes, Mapping)):
            raise ValidationError({"events": ["Must be a list of event objects."]})
        now = self.clock()
        if not single and isinstance(items, Sized) and len(items) >= PAUSE_COLLECTOR_AT:
            with collector_paused():
                valid, errors = self._normalized(items, single, now)
        else:
            valid, errors = self._normalized(items, single, now)
        if errors:
            raise ValidationError(errors)
        return valid

    def _normalized(
        self, items: Iterable[Mapping[str, Any]], single: bool, now: float
    ) -> tuple[list[Normalized], dict[str, list[str]]]:
        """The valid events, and the errors by field of the others."""
        occurred_at = time_of(now)
        valid: list[Normalized] = []
        errors: dict[str, list[str]] = {}
        for index, item in enumerate(items):
            # normalize() only reads the mapping: a plain dict goes in as it is, uncopied.
            if type(item) is dict:
                data: dict[str, Any] = item
            elif isinstance(item, Mapping):
                data = dict(item)
            else:
                errors["event" if single else f"events.{index}"] = [
                    "Must be an object (a mapping of fields)."
                ]
                continue
            try:
                normalized = normalize(data, self.schema, now=now, occurred_at=occurred_at)
                if normalized.providers:
                    self._check_requested(normalized.providers)
                # Values the APIs it goes to type (most events: a call or two returning {});
                # the first provider's problems are reported.
                for name, check in self._checkers:
                    asked = normalized.providers
                    if (not asked or name in asked) and (problems := check(normalized.event)):
                        raise ValidationError(problems)
            except ValidationError as exc:
                prefix = "" if single else f"events.{index}."
                errors.update({prefix + k: v for k, v in exc.errors.items()})
                continue
            valid.append(normalized)
        return valid, errors

    def plan(self, valid: list[Normalized], *, check: bool = False) -> EnqueuePlan:
        """Route every event: each provider's part of this call (skipped events only counted).

        Each event goes with the key Redis takes it by: one event, its id's (``id_key``, a few
        bytes of Redis each); several, one mark for the whole call (``new_batch``), which
        enqueue.lua sets with the events, so a call of 10,000 costs one key, not 10,000.
        ``check``: the events may be in Redis already (spooled after a round trip whose outcome
        is unknown, with their call's mark if it had one): enqueue.lua looks each key up and
        takes only the events it has not seen."""
        batch = new_batch() if len(valid) > 1 and not check else ""
        limits = self.checked_limits if check else self.limits
        return EnqueuePlan(
            valid, self._route(valid, batch_key(batch) if batch else ""), limits, batch
        )

    def apply(self, plan: EnqueuePlan, answers: Answers) -> Applied:
        """Read the round trip's answers. Raises TrackingUnavailable when nothing was enqueued
        (the caller spools every event); when only some providers' parts failed, ``failed``
        holds those parts, so the providers that got an event never get it twice."""
        if isinstance(answers, StoreError):
            raise TrackingUnavailable(str(answers)) from None
        failed = {name: r for name, r in answers.items() if isinstance(r, StoreError)}
        if failed and len(failed) == len(answers):  # nothing enqueued: nothing can double
            raise TrackingUnavailable(str(next(iter(failed.values()))))
        triggers = []
        deduplicated = {}
        suppressed: dict[str, int] = {}
        for name, result in answers.items():
            if isinstance(result, StoreError):
                continue
            if result.deduplicated:
                deduplicated[name] = result.deduplicated
            if result.suppressed:
                suppressed[name] = len(result.suppressed)
            if result.dropped:
                self._warn_dropped(name, result.dropped)
            if result.trigger:
                triggers.append(name)
        parts = _parts_for(plan.valid, set(failed), tuple(self.providers))
        enqueued = [name for name in answers if name not in failed]
        ids = _suppressed_ids(plan, answers) if suppressed else frozenset()
        return Applied(
            triggers, parts, enqueued, failed, deduplicated, plan.routes, suppressed, ids
        )

    def _check_requested(self, requested: tuple[str, ...]) -> None:
        unknown = sorted(set(requested) - set(self.providers))
        if unknown:
            configured = ", ".join(sorted(self.providers)) or "none"
            raise ValidationError(
                {"providers": [f"Not configured: {', '.join(unknown)} (configured: {configured})."]}
            )

    def _route(self, valid: list[Normalized], call_key: str) -> dict[str, Route]:
        """Each provider's part; ``call_key`` the key of a multi-event call (else each event's
        own: its spooled call's mark, or its id's)."""
        routes: dict[str, Route] = {}
        everyone = tuple(self.providers)
        #: Per providers asked for (most events ask for none): their routes and providers.
        targets: dict[tuple[str, ...], list[tuple[Route, Provider]]] = {}
        for index, item in enumerate(valid):
            asked = item.providers or everyone
            chosen = targets.get(asked)
            if chosen is None:
                chosen = targets[asked] = [
                    (routes.setdefault(name, Route()), self.providers[name])
                    for name in self._configured(asked)
                ]
            raw = item.raw or item.event.to_json()
            event_id = item.event.event_id
            key: Arg = call_key or (batch_key(item.batch) if item.batch else id_key(event_id))
            caller = event_id if item.caller_id else ""
            people = event_members(item.event)
            for route, provider in chosen:
                why = provider.skip_reason(item.event)
                if why is None:
                    route.events += (key, caller, raw, people)
                    route.items.append(index)
                else:
                    route.skipped += 1
                    route.skips.append((event_id, why))
        return routes

    def _configured(self, names: tuple[str, ...]) -> list[str]:
        """The configured ones of ``names``. validate() rejects the others, but a spooled event
        may name a provider that a redeploy has since removed: it goes to the rest."""
        unknown = [name for name in names if name not in self.providers]
        for name in unknown:
            if self._may_warn(f"unconfigured:{name}"):
                log.warning("%s: provider not configured (any more); its events are dropped", name)
        return [name for name in names if name in self.providers]

    def _warn_dropped(self, name: str, dropped: int) -> None:
        if self._may_warn(f"dropped:{name}"):
            log.warning(
                "%s: pending list is full (max_pending=%s); dropped %d event(s)",
                name,
                self.limits.max_pending,
                dropped,
            )


def _suppressed_ids(
    plan: EnqueuePlan, answers: Mapping[str, Admitted | StoreError]
) -> frozenset[str]:
    """The ids of the events some provider dropped as a suppressed person's."""
    found: set[str] = set()
    for name, result in answers.items():
        if isinstance(result, Admitted):
            items = plan.routes[name].items
            found.update(
                plan.valid[items[position]].event.event_id for position in result.suppressed
            )
    return frozenset(found)


def _parts_for(
    valid: list[Normalized], failed: set[str], configured: tuple[str, ...]
) -> list[Normalized]:
    """Each event that was routed to a failed provider, now addressed to those alone."""
    if not failed:
        return []
    parts = []
    for item in valid:
        wanted = [p for p in (item.providers or configured) if p in failed]
        if wanted:
            parts.append(dataclasses.replace(item, providers=tuple(wanted)))
    return parts


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off while a large batch is validated. What the loop makes is
    freed by reference counting or kept in the batch: a collection finds nothing to free, yet
    a full one walks the whole heap of the web process, which can cost more than the batch's
    validation (10,000 events in a process of two million objects: 310 ms instead of 105).
    Turned back on only if it was on: another thread may be inside a pause of its own."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
