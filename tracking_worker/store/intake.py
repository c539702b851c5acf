"""Appending new events to the providers' pending lists: one MULTI/EXEC round trip of
``enqueue.lua`` calls, whatever the number of providers and events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from ..keys import Keys
from .connection import converted
from .lua_scripts import Arg, Scripts, is_noscript


@dataclass
class Route:
    """What one provider gets from one call: (dedupe id or "", serialized event) pairs, and
    how many events it cannot take (only counted)."""

    events: list[str] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True)
class Admitted:
    """What ``enqueue.lua`` did for one provider."""

    accepted: int
    dropped: int
    #: This call filled a batch and marked a trigger: the caller sends the deliver message.
    trigger: bool


@dataclass(frozen=True)
class Limits:
    """The per-call arguments of ``enqueue.lua`` that come from settings."""

    max_pending: int
    trigger_ttl_ms: int
    dedupe_ttl: float
    #: Per provider: the pending length that starts a delivery at once (a full claim).
    full_batch: Mapping[str, int]


class Intake:
    """The producer's door into the store."""

    def __init__(self, client: redis.Redis, scripts: Scripts, key_prefix: str) -> None:
        self.client = client
        self.scripts = scripts
        self.key_prefix = key_prefix

    def enqueue(
        self, routes: Mapping[str, Route], limits: Limits, *, now: float
    ) -> dict[str, Admitted]:
        """All routes in one transaction, repeated once after a NOSCRIPT (Redis restarted and
        lost its scripts); redis errors leave as StoreError/StoreUnavailable."""
        with converted("enqueue"):
            try:
                answers = self._once(routes, limits, now)
            except redis.RedisError as exc:
                if not is_noscript(exc):
                    raise
                self.scripts.load(self.client)
                answers = self._once(routes, limits, now)
        return {
            name: Admitted(int(a[0]), int(a[1]), bool(int(a[2])))
            for name, a in zip(routes, answers, strict=True)
        }

    def _once(self, routes: Mapping[str, Route], limits: Limits, now: float) -> list[Any]:
        pipe = self.client.pipeline(transaction=True)
        for name, route in routes.items():
            k = Keys(name, self.key_prefix)
            args: list[Arg] = [
                limits.max_pending,
                limits.full_batch[name],
                limits.trigger_ttl_ms,
                route.skipped,
                now,
                limits.dedupe_ttl,
                *route.events,
            ]
            self.scripts.queue_call(pipe, "enqueue", [k.pending, k.stats, k.trigger, k.seen], args)
        return list(pipe.execute())
