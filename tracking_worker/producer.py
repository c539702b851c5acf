"""Route and enqueue: the only code that runs inside web requests.

Validate every event, pick its providers, and append it to each provider's pending list in one
Redis round trip (one MULTI/EXEC pipeline of ``enqueue.lua`` calls, all or nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from .errors import QueueError, TrackingUnavailable, ValidationError
from .events import EventSchema, Normalized, normalize
from .keys import Keys
from .providers.base import Provider
from .quiet import Quiet
from .scripts import Scripts

log = logging.getLogger("tracking_worker.producer")

#: A warning about the same thing (a full list, a removed provider) at most this often.
WARNING_EVERY = 60.0


@dataclass
class Route:
    """What one provider gets from one call: (dedupe id or "", serialized event) pairs."""

    events: list[str] = field(default_factory=list)
    skipped: int = 0


class Producer:
    """Validates and enqueues events; ``trigger(provider)`` starts a delivery for full batches."""

    def __init__(
        self,
        client: redis.Redis,
        scripts: Scripts,
        providers: Mapping[str, Provider],
        delivery: Mapping[str, Any],
        trigger: Callable[[str], None],
        *,
        key_prefix: str = "tw",
        dedupe_ttl: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.providers = dict(providers)
        self.keys = {name: Keys(name, key_prefix) for name in providers}
        self.delivery = delivery
        self.dedupe_ttl = dedupe_ttl
        self.trigger = trigger
        self.clock = clock
        lease = float(delivery["lease_seconds"])
        #: A full batch (what one claim takes) starts a delivery at once.
        self.claim_sizes = {name: p.claim_size(lease) for name, p in providers.items()}
        self.schema = EventSchema()
        self._may_warn = Quiet(WARNING_EVERY, clock)

    def validate(
        self, items: Iterable[Mapping[str, Any]], *, single: bool = False
    ) -> list[Normalized]:
        """Normalize every item or raise one ValidationError naming every bad field."""
        now = self.clock()
        valid: list[Normalized] = []
        errors: dict[str, list[str]] = {}
        for index, item in enumerate(items):
            prefix = "" if single else f"events.{index}."
            try:
                normalized = normalize(dict(item), self.schema, now=now)
                self._check_requested(normalized.providers)
            except ValidationError as exc:
                errors.update({prefix + k: v for k, v in exc.errors.items()})
                continue
            valid.append(normalized)
        if errors:
            raise ValidationError(errors)
        return valid

    def enqueue(self, valid: list[Normalized]) -> None:
        """Append the events to their providers' lists; raises TrackingUnavailable on failure."""
        routes = self._route(valid)
        if not routes:
            return
        try:
            answers = self._execute(routes)
        except QueueError as exc:
            raise TrackingUnavailable(f"Redis unavailable: {exc}") from None
        for name, (_, dropped, trigger, _) in zip(routes, answers, strict=True):
            if int(dropped):
                self._warn_dropped(name, int(dropped))
            if int(trigger):
                self.trigger(name)

    def _check_requested(self, requested: tuple[str, ...]) -> None:
        unknown = sorted(set(requested) - set(self.providers))
        if unknown:
            configured = ", ".join(sorted(self.providers)) or "none"
            raise ValidationError(
                {"providers": [f"Not configured: {', '.join(unknown)} (configured: {configured})."]}
            )

    def _route(self, valid: list[Normalized]) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for item in valid:
            raw = item.event.to_json()
            dedupe = item.event.event_id if item.caller_id else ""
            for name in self._configured(item.providers or tuple(self.providers)):
                route = routes.setdefault(name, Route())
                if self.providers[name].skip_reason(item.event) is None:
                    route.events += (dedupe, raw)
                else:
                    route.skipped += 1
        return routes

    def _configured(self, names: tuple[str, ...]) -> list[str]:
        """The configured ones of ``names``. validate() rejects the others, but a spooled event
        may name a provider that a redeploy has since removed: it goes to the rest."""
        unknown = [name for name in names if name not in self.providers]
        for name in unknown:
            if self._may_warn(f"unconfigured:{name}"):
                log.warning("%s: provider not configured (any more); its events are dropped", name)
        return [name for name in names if name in self.providers]

    def _execute(self, routes: Mapping[str, Route]) -> list[Any]:
        """One MULTI/EXEC of enqueue calls, repeated once after a NOSCRIPT (Redis restarted
        and lost its scripts); any redis error leaves as QueueError."""
        try:
            return self._execute_once(routes)
        except redis.RedisError as exc:
            if not _is_noscript(exc):
                raise QueueError(str(exc)) from None
        self.scripts.load(self.client)
        try:
            return self._execute_once(routes)
        except redis.RedisError as exc:
            raise QueueError(str(exc)) from None

    def _execute_once(self, routes: Mapping[str, Route]) -> list[Any]:
        now = self.clock()
        pipe = self.client.pipeline(transaction=True)
        for name, route in routes.items():
            k = self.keys[name]
            args = [
                self.delivery["max_pending"],
                self.claim_sizes[name],
                self._trigger_ttl_ms(),
                route.skipped,
                now,
                self.dedupe_ttl,
                *route.events,
            ]
            keys = [k.pending, k.stats, k.trigger, k.seen]
            self.scripts.queue_call(pipe, "enqueue", keys, args)
        return list(pipe.execute())

    def _trigger_ttl_ms(self) -> int:
        return trigger_ttl_ms(self.delivery)

    def _warn_dropped(self, name: str, dropped: int) -> None:
        if self._may_warn(f"dropped:{name}"):
            log.warning(
                "%s: pending list is full (max_pending=%s); dropped %d event(s)",
                name,
                self.delivery["max_pending"],
                dropped,
            )


def _is_noscript(exc: redis.RedisError) -> bool:
    """redis-py maps the NOSCRIPT reply to NoScriptError; the message test also covers replies
    it passes on as a plain ResponseError (older servers, proxies)."""
    return isinstance(exc, redis.exceptions.NoScriptError) or (
        isinstance(exc, redis.ResponseError) and "NOSCRIPT" in str(exc)
    )


def trigger_ttl_ms(delivery: Mapping[str, Any]) -> int:
    """A trigger mark outlives a lost message by a few beat ticks at most."""
    return int(max(10.0, 5 * float(delivery["flush_interval"])) * 1000)
