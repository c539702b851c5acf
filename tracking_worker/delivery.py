"""Deliver one provider: circuit check, claim, send (concurrently, bisecting rejects), settle.

Every event of a claimed batch ends in exactly one place: delivered, back in the retry set with
a due time, or in the dead-letter stream with a reason. Nothing here raises past ``run`` except
a Redis failure, and then the lease brings the batch back.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import LockError
from redis.lock import Lock

from .backoff import compute_backoff
from .circuit import CREDENTIALS, FAILURE, SUCCESS, THROTTLE, Circuit
from .events import Event
from .outcomes import Credentials, Delivered, Outcome, Reject, Retry
from .providers.base import HttpResponse, Provider
from .queue import Batch, DeadEvent, ProviderQueue, Settlement
from .ratelimit import RateLimiter
from .redact import Redactor
from .transport import Transport, TransportError

log = logging.getLogger("tracking_worker.delivery")

Item = tuple[str, Event]


@dataclass(frozen=True)
class MappingFailed(Reject):
    """The provider's mapping raised on this event: poison data, not the provider's answer."""


@dataclass
class Round:
    """What sending one claimed batch produced, event by event."""

    results: list[tuple[str, Outcome]] = field(default_factory=list)
    requests: int = 0


@dataclass
class RunReport:
    batches: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    paused: bool = False
    more: bool = False
    busy: bool = False


class Deliverer:
    """Runs deliveries of one provider in one worker process."""

    def __init__(
        self,
        provider: Provider,
        queue: ProviderQueue,
        circuit: Circuit,
        transport: Transport,
        executor: Executor,
        delivery: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.time,
        rand: random.Random | None = None,
        claim_size: int | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.provider = provider
        self.queue = queue
        self.circuit = circuit
        self.transport = transport
        self.executor = executor
        self.delivery = delivery
        self.clock = clock
        self.rand = rand or random.Random()
        self.claim_size = claim_size or claim_size_for(provider)
        self.redact = Redactor(provider.secrets)
        self.limiter = limiter

    def run(self, *, flush: bool) -> RunReport:
        """Deliver batches until none is left (full ones only unless ``flush``) or time is up.

        One run per provider at a time, across all workers: a slow provider then holds one
        worker slot, never all of them (its concurrency is its own ``max_connections``). A
        second run finds the lock taken and returns at once; the running one sees its work.
        """
        report = RunReport()
        lock = self.queue.run_lock(timeout=self._lease)
        if not lock.acquire():
            report.busy = True
            return report
        try:
            self._loop(flush, report, lock)
        finally:
            with contextlib.suppress(LockError):
                lock.release()
        return report

    def _loop(self, flush: bool, report: RunReport, lock: Lock) -> None:
        deadline = self.clock() + float(self.delivery["run_seconds"])
        while True:
            if self.clock() >= deadline or not _hold(lock):
                report.more = True
                return
            now = self.clock()
            if not self.circuit.allow(now=now).allowed:
                report.paused = True
                return
            batch = self.queue.claim(now=now, lease=self._lease, size=self.claim_size, flush=flush)
            if batch is None:
                return
            self._process(batch, report, lock)

    @property
    def _lease(self) -> float:
        return float(self.delivery["lease_seconds"])

    def _process(self, batch: Batch, report: RunReport, lock: Lock) -> None:
        now = self.clock()
        settlement = Settlement()
        live = self._screen(batch, settlement, now)
        sent = self._send(batch, live, lock) if live else Round()
        settlement.requests = sent.requests
        kind, wait_for, reason = self._health(sent.results)
        change = self.circuit.record(kind, now=self.clock(), wait=wait_for, reason=reason)
        if change.opened:
            self._log_opened(kind, reason, change.open_until)
        self._decide(batch, sent.results, settlement, change.open_until)
        if not self.queue.settle(batch, settlement, now=self.clock()):
            log.warning(
                "%s: lease of batch %s lost before settling; it will be resent",
                self.provider.name,
                batch.id,
            )
            return
        report.batches += 1
        report.delivered += settlement.delivered
        report.retried += len(settlement.retry)
        report.dead += len(settlement.dead)

    def _screen(self, batch: Batch, settlement: Settlement, now: float) -> list[Item]:
        """Parse the batch and drop what can never be sent: malformed, too old, too tried."""
        live: list[Item] = []
        max_age = float(self.delivery["max_age"])
        for raw in batch.events:
            try:
                event = Event.from_json(raw)
            except (ValueError, TypeError) as exc:
                settlement.dead.append(DeadEvent(raw, f"malformed: {exc}", "malformed"))
                continue
            if now - event.queued_at > max_age:
                reason = f"expired: older than max_age ({max_age:g}s)"
                settlement.dead.append(DeadEvent(raw, _with_last(reason, batch), "expired"))
            elif batch.attempts >= int(self.delivery["max_attempts"]):
                reason = f"expired: {batch.attempts} attempts used"
                settlement.dead.append(DeadEvent(raw, _with_last(reason, batch), "expired"))
            else:
                live.append((raw, event))
        return live

    def _send(self, batch: Batch, items: list[Item], lock: Lock) -> Round:
        """Send every chunk concurrently (bounded by the pool), renewing the lease meanwhile."""
        size = self.provider.batch_size
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        futures = [self.executor.submit(self._send_chunk, chunk) for chunk in chunks]
        pending: set[Future[Round]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=self._lease / 3, return_when=FIRST_EXCEPTION)
            if pending:
                self.queue.renew(batch, now=self.clock(), lease=self._lease)
                _hold(lock)
        total = Round()
        for future in futures:
            part = future.result()
            total.results += part.results
            total.requests += part.requests
        return total

    def _send_chunk(self, chunk: Sequence[Item]) -> Round:
        """One request for the chunk; a rejected multi-event chunk is split to isolate culprits."""
        try:
            request = self.provider.build_request([event for _, event in chunk])
        except Exception as exc:  # noqa: BLE001 - a mapping bug must not block the queue
            if len(chunk) > 1:
                return self._split(chunk)
            reason = self.redact(f"mapping failed: {type(exc).__name__}: {exc}")
            return Round([(chunk[0][0], MappingFailed(reason))], 0)
        outcome = self._exchange(request, chunk)
        if isinstance(outcome, Reject) and len(chunk) > 1:
            split = self._split(chunk)
            split.requests += 1
            return split
        return Round([(raw, outcome) for raw, _ in chunk], 1)

    def _split(self, chunk: Sequence[Item]) -> Round:
        middle = len(chunk) // 2
        left, right = self._send_chunk(chunk[:middle]), self._send_chunk(chunk[middle:])
        return Round(left.results + right.results, left.requests + right.requests)

    def _exchange(self, request: Any, chunk: Sequence[Item]) -> Outcome:
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            response = self.transport.send(request)
        except TransportError as exc:
            return Retry(self.redact(str(exc)))
        try:
            outcome = self.provider.classify(response)
        except Exception as exc:  # noqa: BLE001 - an answer we cannot read is retried, counted
            return Retry(
                self.redact(f"unreadable answer {response.status}: {exc}"), response.status
            )
        if isinstance(outcome, Delivered):
            self._log_delivered(response, chunk)
        return outcome

    def _log_delivered(self, response: HttpResponse, chunk: Sequence[Item]) -> None:
        note = self.provider.describe_success(response)
        if note:
            log.info(
                "%s: delivered event %s (%s)",
                self.provider.name,
                chunk[0][1].event_id,
                self.redact(note),
            )

    def _health(self, results: Sequence[tuple[str, Outcome]]) -> tuple[str, float, str]:
        """What this round says about the provider: one circuit record per batch."""
        outcomes = [o for _, o in results]
        creds = [o for o in outcomes if isinstance(o, Credentials)]
        if creds:
            return CREDENTIALS, 0.0, creds[0].reason
        throttles = [o for o in outcomes if isinstance(o, Retry) and o.throttled]
        if throttles:
            waits = [o.after for o in throttles if o.after is not None]
            default = float(self.delivery["breaker_cooldown"])
            return THROTTLE, max(waits) if waits else default, throttles[0].reason
        failures = [o for o in outcomes if isinstance(o, Retry)]
        if failures and not any(isinstance(o, Delivered) for o in outcomes):
            waits = [o.after for o in failures if o.after is not None]
            return FAILURE, max(waits, default=0.0), failures[0].reason
        return SUCCESS, 0.0, ""

    def _decide(
        self,
        batch: Batch,
        results: Sequence[tuple[str, Outcome]],
        settlement: Settlement,
        open_until: float,
    ) -> None:
        retry: list[tuple[str, Outcome]] = []
        for raw, outcome in results:
            if isinstance(outcome, Delivered):
                settlement.delivered += 1
            elif isinstance(outcome, Reject):
                kind = "mapping" if isinstance(outcome, MappingFailed) else "rejected"
                settlement.dead.append(
                    DeadEvent(
                        raw,
                        self.redact(outcome.reason),
                        kind,
                        outcome.status,
                        self.redact(outcome.excerpt),
                    )
                )
            else:
                retry.append((raw, outcome))
        if retry:
            self._schedule(batch, retry, settlement, open_until)

    def _schedule(
        self,
        batch: Batch,
        retry: Sequence[tuple[str, Outcome]],
        settlement: Settlement,
        open_until: float,
    ) -> None:
        """Back to the retry set, or dead when the attempts are used up."""
        outcomes = [o for _, o in retry]
        counted = any(isinstance(o, Retry) and not o.throttled for o in outcomes)
        last = self.redact(getattr(outcomes[0], "reason", ""))
        attempts = batch.attempts + (1 if counted else 0)
        if counted and attempts >= int(self.delivery["max_attempts"]):
            reason = f"expired: {attempts} attempts used; last error: {last}"
            settlement.dead += [DeadEvent(raw, reason, "expired", _status(o)) for raw, o in retry]
            return
        now = self.clock()
        due = now
        if counted:
            asked = max((o.after or 0.0 for o in outcomes if isinstance(o, Retry)), default=0.0)
            due = now + max(asked, self._backoff(attempts))
        settlement.retry = [raw for raw, _ in retry]
        settlement.retry_due = max(due, open_until)
        settlement.count_attempt = counted
        settlement.last_error = last

    def _backoff(self, attempts: int) -> float:
        return compute_backoff(
            attempts - 1,
            base=float(self.delivery["backoff_base"]),
            cap=float(self.delivery["backoff_cap"]),
            rand=self.rand,
        )

    def _log_opened(self, kind: str, reason: str, open_until: float) -> None:
        pause = max(0.0, open_until - self.clock())
        if kind == CREDENTIALS:
            log.error(
                "%s: credentials refused, provider paused for %.0fs, events kept: %s",
                self.provider.name,
                pause,
                self.redact(reason),
            )
        else:
            log.warning(
                "%s: circuit opened for %.0fs after failures: %s",
                self.provider.name,
                pause,
                self.redact(reason),
            )


def claim_size_for(provider: Provider) -> int:
    """Events claimed at once: one full request for batching APIs; enough single requests to
    keep every pooled connection busy for one-event APIs."""
    if provider.batch_size > 1:
        return provider.batch_size
    return 8 * provider.max_connections


def _hold(lock: Lock) -> bool:
    """Extend the run lock; False when it was lost (expired), so the run hands over."""
    try:
        return bool(lock.reacquire())
    except LockError:
        return False


def _with_last(reason: str, batch: Batch) -> str:
    return f"{reason}; last error: {batch.last_error}" if batch.last_error else reason


def _status(outcome: Outcome) -> int | None:
    return getattr(outcome, "status", None)
