"""The Redis buffer of one provider: enqueue, claim, settle, reap, renew.

Every state change of a batch is one Lua script (``store/lua/``), so no crash between two commands
can lose or duplicate an event. This module knows Redis; it knows nothing of HTTP or Celery.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from . import codec
from .connection import as_text, converted
from .lua_scripts import Scripts
from .metrics import histogram_fields

if TYPE_CHECKING:
    from .connection import Client

log = logging.getLogger("tracking_worker.store")

COUNTERS = (
    "enqueued",
    "delivered",
    "retried",
    "dead",
    "skipped",
    "dropped",
    "requests",
    "reaped",
    "in_retry",
    "lost",
    "dead_trimmed",
    "dry_run",
    "dead_aged",
    "suppressed",
)


@dataclass(frozen=True)
class Batch:
    """Events leased to one worker until ``settle`` or lease expiry."""

    id: str
    token: str
    events: list[str]
    attempts: int
    last_error: str
    #: ``time.monotonic()`` just before the claim was sent: the lease runs from no earlier, so
    #: a worker frozen between the claim and its first request knows on waking how long it
    #: has held the batch (see delivery/lease.py's Lease).
    claimed_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class DeadEvent:
    raw: str
    reason: str
    kind: str
    status: int | None = None
    excerpt: str = ""


@dataclass
class Settlement:
    """Per-event outcomes of one batch, recorded at once by ``settle.lua``."""

    delivered: int = 0
    requests: int = 0
    retry: list[str] = field(default_factory=list)
    #: The retry batch is due this many seconds after settling (Redis time)...
    retry_delay: float = 0.0
    #: ...and never before this moment (the circuit's open_until, Redis time; 0 for none).
    not_before: float = 0.0
    count_attempt: bool = True
    #: Ids of the delivered events, for their receipts.
    delivered_ids: list[str] = field(default_factory=list)
    #: What they count as: "dry_run" when a dry run rendered them instead of sending.
    delivered_as: Literal["delivered", "dry_run"] = "delivered"
    #: (event id, reason) of each event a before_send hook dropped: counted, never sent.
    dropped: list[tuple[str, str]] = field(default_factory=list)
    last_error: str = ""
    dead: list[DeadEvent] = field(default_factory=list)
    #: Every request the batch took, (status class, seconds): the latency histogram's input.
    timings: list[tuple[str, float]] = field(default_factory=list)
    #: The batch's round succeeded, which closes the provider's circuit (circuit_record's
    #: success, written by the same script: one round trip per batch instead of two).
    closes_circuit: bool = False
    #: Events set aside, by paused route (event name), and each route's pause record (JSON,
    #: written unless the route has one already).
    parked: dict[str, list[str]] = field(default_factory=dict)
    pauses: dict[str, str] = field(default_factory=dict)


class ProviderQueue:
    """One provider's keys, over a shared client and shared scripts."""

    def __init__(
        self,
        client: Client,
        scripts: Scripts,
        keys: Keys,
        *,
        dead_max: int = 100_000,
        receipts_ttl: float = 0.0,
        dead_ttl: float = 0.0,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.dead_max = dead_max
        self.receipts_ttl = receipts_ttl
        #: Seconds a dead letter is kept; 0: no age limit.
        self.dead_ttl = dead_ttl
        #: The receipt arguments settle and reap take (see receipts_lib.lua).
        self._receipts: dict[str, Any] = {
            "receipts_ttl": receipts_ttl,
            "receipt_bucket": RECEIPT_BUCKET_SECONDS,
            "receipts_prefix": keys.receipts_prefix,
        }

    def claim(self, *, lease: float, size: int, flush: bool, wait: float) -> Batch | None:
        """Lease a due retry batch, else ``size`` pending events (a full batch), else, when
        ``flush``, what is pending once its oldest event has waited ``wait`` seconds. Retry ids
        whose batch vanished from Redis are dropped, counted and logged."""
        k, token, new_id = self.keys, uuid.uuid4().hex, uuid.uuid4().hex
        claimed_at = time.monotonic()
        call = codec.Claim(
            lease=lease,
            claim_size=size,
            flush=flush,
            token=token,
            batch_id=new_id,
            batch_prefix=k.batch_prefix,
            flush_interval=wait,
        )
        got = codec.claimed(self.scripts.call(self.client, call, k))
        self._report_lost(got.lost, "retry set")
        if not got.batch_id:
            return None
        return Batch(got.batch_id, token, got.events, got.attempts, got.last_error, claimed_at)

    def settle(self, batch: Batch, result: Settlement) -> bool:
        """Record the batch's outcomes; False when the lease was lost (batch resent later)."""
        done, trimmed, _aged = self.scripts.call(
            self.client, self._settle_call(batch, result), self.keys
        )
        if int(trimmed):
            log.error(
                "%s: dead letters are at dead_max=%d: the %d oldest were trimmed (counted as "
                "dead_trimmed); replay or purge them, or raise dead_max",
                self.keys.provider,
                self.dead_max,
                int(trimmed),
            )
        return bool(int(done) == 1)

    def _settle_call(self, batch: Batch, result: Settlement) -> codec.Settle:
        """``result`` as settle.lua's arguments, texts cut to what the batch and the dead
        letters keep (a status of 0 travels as none, as it always has)."""
        dead_attempts = batch.attempts + 1
        return codec.Settle(
            batch_id=batch.id,
            token=batch.token,
            not_before=result.not_before,
            delivered=result.delivered,
            requests=result.requests,
            retry_events=json.dumps(result.retry) if result.retry else "",
            retry_count=len(result.retry),
            retry_delay=result.retry_delay,
            count_attempt=result.count_attempt,
            last_error=result.last_error[:1000],
            dead_max=self.dead_max,
            dead_ttl=self.dead_ttl,
            delivered_ids=json.dumps(result.delivered_ids),
            closes_circuit=result.closes_circuit,
            parked_prefix=self.keys.parked_prefix,
            parked=_parked(result),
            delivered_as=result.delivered_as,
            dropped=json.dumps(result.dropped) if result.dropped else "",
            histogram=tuple(histogram_fields(result.timings)),
            dead=tuple(
                codec.DeadEntry(
                    d.raw,
                    d.reason[:2000],
                    d.status or None,
                    d.excerpt[:1000],
                    dead_attempts,
                    d.kind,
                )
                for d in result.dead
            ),
            **self._receipts,
        )

    def trim_dead(self) -> int:
        """Remove the dead letters older than ``dead_ttl`` (settle does it at each write; the
        tick calls this so an idle provider's go too); returns how many."""
        if self.dead_ttl <= 0:
            return 0
        call = codec.DeadTrim(dead_ttl=self.dead_ttl)
        return int(self.scripts.call(self.client, call, self.keys))

    def renew(self, batch: Batch, *, lease: float) -> bool:
        """Extend the lease; False when it was lost (reaped: another worker may send it)."""
        call = codec.Renew(batch_id=batch.id, token=batch.token, lease=lease)
        done = self.scripts.call(self.client, call, self.keys)
        return bool(int(done) == 1)

    def reap(self, *, limit: int = 100) -> int:
        """Return expired leases to the retry set; returns how many batches."""
        call = codec.Reap(batch_prefix=self.keys.batch_prefix, limit=limit, **self._receipts)
        reaped, lost = self.scripts.call(self.client, call, self.keys)
        self._report_lost(int(lost), "leases")
        return int(reaped)

    def due(self, *, full: int, wait: float) -> bool:
        """Whether a flushing delivery would find work now while the circuit lets it send: a
        due retry, ``full`` events pending, or a partial batch whose oldest waited ``wait``."""
        call = codec.Due(claim_size=full, flush_interval=wait)
        return bool(int(self.scripts.call(self.client, call, self.keys)))

    def _report_lost(self, lost: int, where: str) -> None:
        if lost:
            log.error(
                "%s: %d batch(es) in the %s had vanished from Redis (evicted or deleted); "
                "their events are lost and counted as `lost`",
                self.keys.provider,
                lost,
                where,
            )

    def mark_trigger(self, ttl_ms: int) -> bool:
        """Mark a deliver message as sent; False when one is already marked (at most one
        waits per provider, so a burst of events sends one message, not thousands)."""
        with converted("marking a trigger"):
            return bool(self.client.set(self.keys.trigger, "1", nx=True, px=ttl_ms))

    def clear_trigger(self) -> None:
        """The marked message was taken: the next full batch may send another."""
        with converted("clearing a trigger"):
            self.client.delete(self.keys.trigger)

    def counts(self) -> dict[str, int]:
        """Counters plus the live sizes: pending, in_flight (leased batches), retry batches."""
        k = self.keys
        with converted("reading stats"):
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(k.stats)
            pipe.llen(k.pending)
            pipe.zcard(k.leases)
            pipe.zcard(k.retry)
            pipe.xlen(k.dead)
            stats, pending, leased, retry_batches, dead_len = pipe.execute()
        counts = {name: 0 for name in COUNTERS}
        counts.update({as_text(a): int(b) for a, b in cast(dict[Any, Any], stats).items()})
        counts.update(
            pending=pending,
            leased_batches=leased,
            retry_batches=retry_batches,
            dead_stored=dead_len,
        )
        return counts

    def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest dead letters, newest first, each with its stream id as ``id``."""
        with converted("reading dead letters"):
            entries = cast(list[Any], self.client.xrevrange(self.keys.dead, count=count))
        return [
            {"id": as_text(i), **{as_text(a): as_text(b) for a, b in f.items()}} for i, f in entries
        ]


def _parked(result: Settlement) -> str:
    """settle.lua's ``parked``: each route's record and events, "" when none."""
    if not result.parked:
        return ""
    return json.dumps(
        {
            route: {"record": result.pauses.get(route, "{}"), "events": events}
            for route, events in result.parked.items()
        }
    )
