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
from typing import Any, cast

import redis

from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from .connection import as_text, converted
from .lua_scripts import Arg, Scripts
from .metrics import histogram_fields

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
    #: has held the batch (see delivery/sender.py's Stop).
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
    last_error: str = ""
    dead: list[DeadEvent] = field(default_factory=list)
    #: Every request the batch took, (status class, seconds): the latency histogram's input.
    timings: list[tuple[str, float]] = field(default_factory=list)
    #: The batch's round succeeded, which closes the provider's circuit (circuit_record's
    #: success, written by the same script: one round trip per batch instead of two).
    closes_circuit: bool = False


class ProviderQueue:
    """One provider's keys, over a shared client and shared scripts."""

    def __init__(
        self,
        client: redis.Redis,
        scripts: Scripts,
        keys: Keys,
        *,
        dead_max: int = 100_000,
        receipts_ttl: float = 0.0,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.dead_max = dead_max
        self.receipts_ttl = receipts_ttl
        #: The receipt arguments settle and reap take (see receipts_lib.lua).
        self._receipts = (receipts_ttl, RECEIPT_BUCKET_SECONDS, keys.receipts_prefix)

    def claim(self, *, lease: float, size: int, flush: bool, wait: float) -> Batch | None:
        """Lease a due retry batch, else ``size`` pending events (a full batch), else, when
        ``flush``, what is pending once its oldest event has waited ``wait`` seconds. Retry ids
        whose batch vanished from Redis are dropped, counted and logged."""
        k, token, new_id = self.keys, uuid.uuid4().hex, uuid.uuid4().hex
        claimed_at = time.monotonic()
        got = self.scripts.run(
            self.client,
            "claim",
            [k.pending, k.leases, k.retry, k.batch(new_id), k.stats, k.since],
            [lease, size, 1 if flush else 0, token, new_id, k.batch_prefix, wait],
        )
        batch_id, events, attempts, last_error, lost, form = (as_text(x) for x in got)
        self._report_lost(int(lost), "retry set")
        if not batch_id:
            return None
        # Newline-joined (a serialized event holds none) unless claim.lua says otherwise.
        raws = events.split("\n") if form == "lines" else json.loads(events)
        return Batch(batch_id, token, raws, int(attempts), last_error, claimed_at)

    def settle(self, batch: Batch, result: Settlement) -> bool:
        """Record the batch's outcomes; False when the lease was lost (batch resent later)."""
        k = self.keys
        args: list[Any] = [
            batch.id,
            batch.token,
            result.not_before,
            result.delivered,
            result.requests,
            json.dumps(result.retry) if result.retry else "",
            len(result.retry),
            result.retry_delay,
            1 if result.count_attempt else 0,
            result.last_error[:1000],
            self.dead_max,
            *self._receipts,
            json.dumps(result.delivered_ids),
            1 if result.closes_circuit else 0,
        ]
        histogram = histogram_fields(result.timings)
        args += [len(histogram), *histogram]
        for d in result.dead:
            args += [
                d.raw,
                d.reason[:2000],
                d.status or "",
                d.excerpt[:1000],
                batch.attempts + 1,
                d.kind,
            ]
        done, trimmed = self.scripts.run(
            self.client,
            "settle",
            [k.batch(batch.id), k.leases, k.retry, k.dead, k.stats, k.latency, k.circuit],
            args,
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

    def renew(self, batch: Batch, *, lease: float) -> bool:
        """Extend the lease; False when it was lost (reaped: another worker may send it)."""
        k = self.keys
        done = self.scripts.run(
            self.client, "renew", [k.batch(batch.id), k.leases], [batch.id, batch.token, lease]
        )
        return bool(int(done) == 1)

    def reap(self, *, limit: int = 100) -> int:
        """Return expired leases to the retry set; returns how many batches."""
        k = self.keys
        reaped, lost = self.scripts.run(
            self.client,
            "reap",
            [k.leases, k.retry, k.stats],
            [k.batch_prefix, limit, *self._receipts],
        )
        self._report_lost(int(lost), "leases")
        return int(reaped)

    def due(self, *, full: int, wait: float) -> bool:
        """Whether a flushing delivery would find work now while the circuit lets it send: a
        due retry, ``full`` events pending, or a partial batch whose oldest waited ``wait``."""
        k = self.keys
        keys = [k.pending, k.retry, k.circuit, k.since]
        return bool(int(self.scripts.run(self.client, "due", keys, [full, wait])))

    def _report_lost(self, lost: int, where: str) -> None:
        if lost:
            log.error(
                "%s: %d batch(es) in the %s had vanished from Redis (evicted or deleted); "
                "their events are lost and counted as `lost`",
                self.keys.provider,
                lost,
                where,
            )

    def run_slot(self, *, timeout: float, index: int = 0) -> RunSlot:
        """Run slot ``index`` of this provider: ``max_runs`` of them bound how many runs deliver
        it at once across all workers (each expires if its holder dies)."""
        return RunSlot(self.client, self.scripts, self.keys.run_slot(index), timeout)

    def open_second_slot(self, seconds: float) -> None:
        """Let further runs take a slot for ``seconds``: the running one found the provider
        quick to answer while a backlog waits."""
        with converted("opening a run slot"):
            self.client.set(self.keys.second_run, "1", px=max(1, int(seconds * 1000)))

    def second_slot_open(self) -> bool:
        with converted("reading the run slots"):
            return bool(self.client.exists(self.keys.second_run))

    def backlog(self) -> int:
        """Events pending: whether a second run is worth a worker slot."""
        with converted("reading the backlog"):
            return int(self.client.llen(self.keys.pending))

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


class RunSlot:
    """One of a provider's run slots, held by one run at a time under a token of its own; it
    expires ``timeout`` seconds after it was last taken or held."""

    def __init__(self, client: redis.Redis, scripts: Scripts, key: str, timeout: float) -> None:
        self.client = client
        self.scripts = scripts
        self.key = key
        self.token = uuid.uuid4().hex
        self.milliseconds = max(1, int(timeout * 1000))

    def acquire(self) -> bool:
        return self._run("take")

    def hold(self) -> bool:
        """Extend the slot; False when it was lost (expired), so the run hands over."""
        return self._run("hold")

    def release(self) -> None:
        self._run("release")

    def _run(self, action: str) -> bool:
        args: list[Arg] = [action, self.token, self.milliseconds]
        return bool(int(self.scripts.run(self.client, "run_slot", [self.key], args)))
