"""Appending new events to the providers' pending lists: one MULTI/EXEC round trip of
``enqueue.lua`` calls, whatever the number of providers and events."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import StoreError
from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from .codec import Enqueue, enqueue_args
from .connection import converted
from .lua_scripts import Arg, Scripts, is_noscript
from .roundtrip import RoundTrip


@dataclass
class Route:
    """What one provider gets from one call: (id key, caller event id or "", serialized event,
    people) quadruples (``codec.Enqueue``), and how many events it cannot take (only counted).
    ``items`` are the events in the same order, for reading back which ones enqueue.lua
    dropped (their indexes into the call's valid events)."""

    events: list[Arg] = field(default_factory=list)
    skipped: int = 0
    items: list[int] = field(default_factory=list)
    #: (event id, why) of each event the provider cannot take: a ``skipped`` receipt each.
    skips: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Admitted:
    """What ``enqueue.lua`` did for one provider."""

    accepted: int
    dropped: int
    #: This call filled a batch and marked a trigger: the caller sends the deliver message.
    trigger: bool
    #: Events not enqueued because the provider had their id already (a caller's id repeated).
    deduplicated: int
    #: Events dropped because their person is suppressed: their positions in the route, from 0.
    suppressed: tuple[int, ...] = ()


@dataclass(frozen=True)
class Limits:
    """The per-call arguments of ``enqueue.lua`` that come from settings."""

    max_pending: int
    trigger_ttl_ms: int
    dedupe_ttl: float
    #: Per provider: the pending length that starts a delivery at once (a full claim).
    full_batch: Mapping[str, int]
    #: Seconds an event id taken is refused again (``producer.idempotency_window``).
    window: float
    #: The events may have been enqueued already (a spool drain): each id is looked up.
    check: bool = False
    #: ``delivery.receipts_ttl``: a skipped event gets a receipt saying why; 0: none.
    receipts_ttl: float = 0.0


class Intake:
    """The producer's door into the store."""

    def __init__(self, trips: RoundTrip, scripts: Scripts, key_prefix: str) -> None:
        self.trips = trips
        self.scripts = scripts
        self.key_prefix = key_prefix

    def enqueue(
        self, routes: Mapping[str, Route], limits: Limits
    ) -> dict[str, Admitted | StoreError]:
        """All routes in one transaction, repeated once after a NOSCRIPT (Redis restarted and
        lost its scripts). MULTI/EXEC does not roll back when one command fails, so each
        provider's answer comes back on its own: what Redis did for it, or why it failed (the
        caller spools only that part). A failure of the whole call raises StoreError or
        StoreUnavailable."""
        with converted("enqueue"):
            answers = self._once(routes, limits)
            if any(isinstance(a, redis.RedisError) and is_noscript(a) for a in answers):
                self.scripts.load(self.trips.client)
                answers = self._once(routes, limits)
        return {name: admitted(answer) for name, answer in zip(routes, answers, strict=True)}

    def _once(self, routes: Mapping[str, Route], limits: Limits) -> list[Any]:
        sha = self.scripts.sha["enqueue"]
        calls = [
            ("EVALSHA", sha, len(keys), *keys, *args)
            for keys, args in (
                call_args(name, route, limits, self.key_prefix) for name, route in routes.items()
            )
        ]
        if len(calls) == 1:
            # One script is atomic by itself: no MULTI/EXEC to send and parse (a web request's
            # most common case: one provider configured, or one asked for).
            try:
                return [self.trips.call(*calls[0])]
            except redis.ResponseError as exc:  # the script's own error, as a pipeline gives it
                return [exc]
        return self.trips.transaction(calls)


def call_args(
    name: str, route: Route, limits: Limits, key_prefix: str
) -> tuple[list[str], list[Arg]]:
    """The keys and arguments of one provider's ``enqueue.lua`` call (shared with the async
    path), laid out by ``codec.Enqueue``."""
    args = enqueue_args(
        limits.max_pending,
        limits.full_batch[name],
        limits.trigger_ttl_ms,
        route.skipped,
        limits.dedupe_ttl,
        limits.window,
        limits.check,
        skip_receipts(route, limits, name, key_prefix),
        route.events,
    )
    return list(_enqueue_keys(name, key_prefix)), args


def skip_receipts(route: Route, limits: Limits, name: str, key_prefix: str) -> str:
    """enqueue.lua's ``skips``: "" unless receipts are on and some events were skipped."""
    if not route.skips or limits.receipts_ttl <= 0:
        return ""
    where = Keys(name, key_prefix).receipts_prefix
    return json.dumps([limits.receipts_ttl, RECEIPT_BUCKET_SECONDS, where, route.skips])


@functools.lru_cache(maxsize=256)
def _enqueue_keys(name: str, key_prefix: str) -> tuple[str, ...]:
    """``enqueue.lua``'s keys, built once per provider rather than once per call."""
    return tuple(Enqueue.keys(Keys(name, key_prefix)))


def admitted(answer: Any) -> Admitted | StoreError:
    """One provider's part of an enqueue, as Redis answered it (shared with the async path)."""
    if isinstance(answer, Exception):
        return StoreError(f"enqueue failed: {answer}")
    suppressed = tuple(int(n) - 1 for n in answer[4]) if len(answer) > 4 else ()
    return Admitted(
        int(answer[0]), int(answer[1]), bool(int(answer[2])), int(answer[3]), suppressed
    )
