"""Appending new events to the providers' pending lists: one MULTI/EXEC round trip of
``enqueue.lua`` calls, whatever the number of providers and events (and WAIT after it, in the
same write, with ``redis.wait_replicas``). On a Redis Cluster: ``cluster_intake.py``."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import StoreError, StoreUnavailable
from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from .codec import Enqueue, enqueue_args
from .connection import converted, refused
from .failover import NotRun, not_master, retry_not_run
from .lua_scripts import Arg, Scripts, is_noscript, loaded
from .replication import Replication
from .roundtrip import RoundTrip, executed


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

    def __init__(
        self,
        trips: RoundTrip,
        scripts: Scripts,
        key_prefix: str,
        replication: Replication | None = None,
    ) -> None:
        self.trips = trips
        self.scripts = scripts
        self.key_prefix = key_prefix
        self.replication = replication or Replication(0)

    def enqueue(
        self, routes: Mapping[str, Route], limits: Limits
    ) -> dict[str, Admitted | StoreError]:
        """All routes in one transaction, repeated once after a NOSCRIPT (Redis restarted and
        lost its scripts). MULTI/EXEC does not roll back when one command fails, so each
        provider's answer comes back on its own: what Redis did for it, or why it failed (the
        caller spools only that part). A failure of the whole call raises StoreError or
        StoreUnavailable.

        Within the client's ``failover_wait`` (``socket_timeout`` on the web side), a call that
        did not run is sent again (``failover.py``); one whose reply was lost once Redis had it
        is sent again with each id looked up (``Limits.check``), so it adds nothing twice."""
        deadline = time.monotonic() + self.trips.failover_wait()
        with converted("enqueue"):
            try:
                answers = retry_not_run(lambda: self._loaded(routes, limits, deadline), deadline)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if isinstance(exc, NotRun) or time.monotonic() >= deadline:
                    raise
                checked = dataclasses.replace(limits, check=True)
                answers = retry_not_run(lambda: self._loaded(routes, checked, deadline), deadline)
        return {name: admitted(answer) for name, answer in zip(routes, answers, strict=True)}

    def _loaded(self, routes: Mapping[str, Route], limits: Limits, deadline: float) -> list[Any]:
        """One try, and one more after a NOSCRIPT (Redis restarted and lost its scripts)."""
        answers = self._once(routes, limits, deadline)
        if any(isinstance(a, redis.RedisError) and is_noscript(a) for a in answers):
            answers = self._once(routes, limits, deadline, load=True)
        return answers

    def _once(
        self, routes: Mapping[str, Route], limits: Limits, deadline: float, *, load: bool = False
    ) -> list[Any]:
        """The calls in one write (``load``: after the scripts' SCRIPT LOADs, in the same
        write, so on the same connection: ``Scripts.loading``)."""
        calls = [
            ("EVALSHA", self.scripts.sha["enqueue"], len(keys), *keys, *args)
            for keys, args in (
                call_args(name, route, limits, self.key_prefix) for name, route in routes.items()
            )
        ]
        wait = self.replication.command(deadline)
        replies = self.trips.exchange(self.scripts.loading(laid_out(calls, wait), load), deadline)
        answers = loaded(replies, self.scripts.loads(load))
        return read_back(answers, len(calls), wait, self.replication)


def laid_out(calls: list[tuple[Any, ...]], wait: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The commands of one enqueue round trip (shared with the async path): one script alone
    (atomic by itself: a web request's most common case, one provider), several in one
    MULTI/EXEC; then the WAIT, if any, in the same write (WAIT cannot run inside MULTI)."""
    if len(calls) == 1:
        return [calls[0], *wait]
    return [("MULTI",), *calls, ("EXEC",), *wait]


def read_back(
    replies: list[Any], count: int, wait: list[tuple[Any, ...]], replication: Replication
) -> list[Any]:
    """Each script's answer from the round trip's replies (``laid_out``'s), after recording
    what WAIT said. A node that is not a writable master ran none of them: NotRun (the
    exchange has dropped its connection)."""
    answers = replies[:1] if count == 1 else executed(replies, count)
    refused = next((answer for answer in answers if not_master(answer)), None)
    if refused is not None:
        raise NotRun(f"enqueue: {refused}")
    if not any(isinstance(answer, Exception) for answer in answers):
        replication.record(bool(wait), replies[-1] if wait else None)
    return answers


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


def unavailable(answer: Exception) -> bool:
    """Whether a provider's part failed because its Redis (its node, on a cluster) could not
    be reached, did not answer, or refuses for now (``converted``'s StoreUnavailable)."""
    if isinstance(answer, (redis.ConnectionError, redis.TimeoutError)):
        return True
    return isinstance(answer, redis.RedisError) and refused(answer)


def admitted(answer: Any) -> Admitted | StoreError:
    """One provider's part of an enqueue, as Redis answered it (shared with the async path)."""
    if isinstance(answer, Exception):
        kind = StoreUnavailable if unavailable(answer) else StoreError
        return kind(f"enqueue failed: {answer}")
    suppressed = tuple(int(n) - 1 for n in answer[4]) if len(answer) > 4 else ()
    return Admitted(
        int(answer[0]), int(answer[1]), bool(int(answer[2])), int(answer[3]), suppressed
    )
