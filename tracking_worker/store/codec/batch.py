"""The layouts of the scripts that move events and batches: enqueue, claim, settle, reap,
renew, replay; and the two forms a claimed batch's events take."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, NamedTuple

from ..connection import as_text
from .layout import Arg, Layout, _pairs, as_bytes

#: A claimed batch's events: ``lines``, the serialized events joined by newlines (a serialized
#: event holds none: JSON escapes them), or ``json``, a JSON array (field ``events``). See
#: claim.lua for which form is written when.
LINES, JSON = "lines", "json"


#: Arguments per event of an enqueue (see ``Enqueue.events``).
EVENT_ARGS = 4


@dataclass(frozen=True)
class Enqueue(Layout):
    """Append events to the pending list (track()'s one script)."""

    SCRIPT = "enqueue"
    KEYS = ("pending", "stats", "trigger", "seen", "since", "ids_prefix", "suppressed")
    TAIL = ("events",)
    max_pending: int
    claim_size: int
    trigger_ttl_ms: int
    skipped: int
    dedupe_ttl: float
    window: float
    check: bool
    #: "" or the skipped events' receipts, JSON (enqueue.lua's header; ``skip_receipts``).
    skips: str
    #: (id key, caller event id or "", serialized event, people) quadruples, flat, as
    #: ``intake.Route`` holds them; the id key is ``id_key(event_id)``, 8 bytes; people the
    #: event's hashed identifiers (``people.event_members``), b"" for none.
    events: tuple[Arg, ...] = ()

    def args(self) -> list[Arg]:
        return enqueue_args(
            self.max_pending,
            self.claim_size,
            self.trigger_ttl_ms,
            self.skipped,
            self.dedupe_ttl,
            self.window,
            self.check,
            self.skips,
            self.events,
        )

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        if len(tail) % EVENT_ARGS:
            raise ValueError(f"{cls.SCRIPT}: events come in groups of {EVENT_ARGS}")
        return {
            "events": tuple(
                as_bytes(a) if i % EVENT_ARGS in (0, 3) else as_text(a) for i, a in enumerate(tail)
            )
        }


def enqueue_args(
    max_pending: int,
    claim_size: int,
    trigger_ttl_ms: int,
    skipped: int,
    dedupe_ttl: float,
    window: float,
    check: bool,
    skips: str,
    events: Sequence[Arg],
) -> list[Arg]:
    """``Enqueue``'s ARGV without an ``Enqueue`` built first: track()'s hot path calls this."""
    flag = 1 if check else 0
    head: list[Arg] = [max_pending, claim_size, trigger_ttl_ms, skipped, dedupe_ttl, window, flag]
    return [*head, skips, *events]


def new_batch() -> str:
    """A multi-event call's mark: random, 16 hex digits."""
    return os.urandom(8).hex()


def batch_key(batch: str) -> str:
    """The key enqueue.lua takes a multi-event call's events by: never 8 bytes long, so never
    mistaken for an ``id_key``."""
    return f"batch:{batch}"


def id_key(event_id: str) -> bytes:
    """The 8 bytes enqueue.lua takes an event id by: a hash, so any id (ours, a caller's) has
    the same short form. Among a million ids in a window, two share a key with a chance of
    about 3 in 10^8, and only an event looked up (a spool drain) could be taken for the other."""
    return blake2b(event_id.encode(), digest_size=8).digest()


@dataclass(frozen=True)
class Claim(Layout):
    """Lease a due retry batch, a full batch, or an aged partial one."""

    SCRIPT = "claim"
    KEYS = ("pending", "leases", "retry", "batch", "stats", "since")
    lease: float
    claim_size: int
    flush: bool
    token: str
    #: The id a batch taken from pending gets.
    batch_id: str
    batch_prefix: str
    flush_interval: float


class Claimed(NamedTuple):
    """claim.lua's answer; ``batch_id`` empty when there was nothing to claim."""

    batch_id: str
    events: list[Any]
    attempts: int
    last_error: str
    #: Retry ids whose batch had vanished from Redis.
    lost: int


def claimed(reply: Sequence[Any]) -> Claimed:
    batch_id, events, attempts, last_error, lost, form = (as_text(x) for x in reply)
    raws = batch_events(events, form) if batch_id else []
    return Claimed(batch_id, raws, int(attempts or 0), last_error, int(lost))


def batch_events(text: str | bytes, form: str) -> Any:
    """A batch's events from either of its forms (``LINES`` or ``JSON``); a corrupt JSON
    array raises ValueError. Every reader of a batch's events goes through here."""
    if form == LINES:
        return as_text(text).split("\n")
    return json.loads(text)


class DeadEntry(NamedTuple):
    """One dead letter of a settle, six arguments."""

    event: str
    reason: str
    #: The HTTP status, None when there was none (sent as "").
    status: int | None
    excerpt: str
    attempts: int
    kind: str


@dataclass(frozen=True)
class Settle(Layout):
    """Record the outcome of every event of a claimed batch in one step."""

    SCRIPT = "settle"
    KEYS = ("batch", "leases", "retry", "dead", "stats", "latency", "circuit", "routes")
    TAIL = ("histogram", "dead")
    COUNTS = ("histogram_len",)
    batch_id: str
    token: str
    #: The retry is due no earlier (the circuit's open_until, Redis time; 0 for none).
    not_before: float
    delivered: int
    requests: int
    #: The events to retry as a JSON array, "" when none.
    retry_events: str
    retry_count: int
    retry_delay: float
    count_attempt: bool
    last_error: str
    dead_max: int
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str
    #: The delivered events' ids, a JSON array.
    delivered_ids: str
    closes_circuit: bool
    #: The parked lists' key prefix (``Keys.parked_prefix``).
    parked_prefix: str = ""
    #: Events set aside because their route is paused, a JSON object: event name ->
    #: {"record": the route's pause record, "events": [...]}; "" when none.
    parked: str = ""
    #: What the delivered events are counted and receipted as: "delivered", or "dry_run" for
    #: a dry run's (rendered and logged, never sent).
    delivered_as: str = "delivered"
    #: Events a before_send hook dropped, a JSON array of [event id, reason]; "" when none.
    dropped: str = ""
    #: Seconds a dead letter is kept (``delivery.dead_ttl``); 0: no age limit.
    dead_ttl: float = 0.0
    #: Latency histogram increments: field and amount pairs, flat (``metrics.histogram_fields``).
    histogram: tuple[str | int, ...] = ()
    dead: tuple[DeadEntry, ...] = ()

    def tail(self) -> list[Arg]:
        args: list[Arg] = [len(self.histogram), *self.histogram]
        for d in self.dead:
            status = "" if d.status is None else d.status
            args += (d.event, d.reason, status, d.excerpt, d.attempts, d.kind)
        return args

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        first_dead = 1 + int(tail[0])
        pairs = _pairs(tail[1:first_dead], cls.SCRIPT)
        histogram = tuple(int(a) if i % 2 else a for i, a in enumerate(pairs))
        dead = tail[first_dead:]
        if len(dead) % 6:
            raise ValueError(f"{cls.SCRIPT}: dead letters come in groups of 6")
        return {
            "histogram": histogram,
            "dead": tuple(_dead(dead[i : i + 6]) for i in range(0, len(dead), 6)),
        }


def _dead(group: Sequence[Arg]) -> DeadEntry:
    event, reason, status, excerpt, attempts, kind = group
    code = None if as_text(status) == "" else int(status)
    return DeadEntry(
        as_text(event), as_text(reason), code, as_text(excerpt), int(attempts), as_text(kind)
    )


@dataclass(frozen=True)
class DeadTrim(Layout):
    """Remove the dead letters older than ``dead_ttl`` (the tick's part of the age limit)."""

    SCRIPT = "dead_trim"
    KEYS = ("dead", "stats")
    dead_ttl: float


@dataclass(frozen=True)
class Reap(Layout):
    """Return batches whose lease expired to the retry set."""

    SCRIPT = "reap"
    KEYS = ("leases", "retry", "stats")
    batch_prefix: str
    limit: int
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str


@dataclass(frozen=True)
class Renew(Layout):
    """Extend a batch's lease while its holder still has it."""

    SCRIPT = "renew"
    KEYS = ("batch", "leases")
    batch_id: str
    token: str
    lease: float


@dataclass(frozen=True)
class Replay(Layout):
    """Move dead letters back to the pending list, each with a ``pending`` receipt."""

    SCRIPT = "replay"
    KEYS = ("dead", "pending", "stats", "since", "forgetting")
    TAIL = ("moves",)
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str
    #: (stream entry id, event to enqueue) pairs, flat.
    moves: tuple[str, ...] = ()

    def tail(self) -> list[Arg]:
        return list(self.moves)

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        return {"moves": _pairs(tail, cls.SCRIPT)}
