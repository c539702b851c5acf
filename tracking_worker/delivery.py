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
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from redis.exceptions import LockError
from redis.lock import Lock

from .backoff import compute_backoff
from .circuit import CREDENTIALS, FAILURE, SUCCESS, THROTTLE, Circuit
from .events import Event
from .outcomes import Credentials, Delivered, Outcome, Reject, Retry
from .providers.base import Provider
from .queue import Batch, DeadEvent, ProviderQueue, Settlement
from .ratelimit import RateLimiter
from .redact import Redactor
from .sender import Item, MappingFailed, Round, Sender
from .transport import Transport

log = logging.getLogger("tracking_worker.delivery")


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
        limiter: RateLimiter | None = None,
    ) -> None:
        self.provider = provider
        self.queue = queue
        self.circuit = circuit
        self.delivery = delivery
        self.clock = clock
        self.rand = rand or random.Random()
        self.claim_size = provider.claim_size(float(delivery["lease_seconds"]))
        self.redact = Redactor(provider.secrets)
        self.sender = Sender(
            provider,
            transport,
            executor,
            redact=self.redact,
            limiter=limiter,
            stop_after=int(delivery["breaker_threshold"]),
        )

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
            verdict = self.circuit.allow(now=now)
            if not verdict.allowed:
                report.paused = True
                return
            # A half-open probe is one request's worth, not a whole claim of them.
            size = self.provider.batch_size if verdict.state == "half" else self.claim_size
            batch = self.queue.claim(now=now, lease=self._lease, size=size, flush=flush)
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
        kind, wait_for, reason, failed = self._health(sent.results, sent.requests)
        reason = self.redact(reason)
        change = self.circuit.record(
            kind, now=self.clock(), wait=wait_for, reason=reason, failures=failed
        )
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
                age = now - float(event.queued_at)
            except (ValueError, TypeError) as exc:
                settlement.dead.append(DeadEvent(raw, f"malformed: {exc}", "malformed"))
                continue
            if age > max_age:
                reason = f"expired: older than max_age ({max_age:g}s)"
                settlement.dead.append(DeadEvent(raw, _with_last(reason, batch), "expired"))
            elif batch.attempts >= int(self.delivery["max_attempts"]):
                reason = f"expired: {batch.attempts} attempts used"
                settlement.dead.append(DeadEvent(raw, _with_last(reason, batch), "expired"))
            else:
                live.append((raw, event))
        return live

    def _send(self, batch: Batch, items: list[Item], lock: Lock) -> Round:
        def keep_alive() -> None:
            self.queue.renew(batch, now=self.clock(), lease=self._lease)
            _hold(lock)

        return self.sender.send(items, keep_alive=keep_alive, every=self._lease / 3)

    def _health(
        self, results: Sequence[tuple[str, Outcome]], requests: int = 1
    ) -> tuple[str, float, str, int]:
        """What this round says about the provider: one circuit record per batch, a failed
        round counting as many failures as it sent requests."""
        outcomes = [o for _, o in results]
        creds = [o for o in outcomes if isinstance(o, Credentials)]
        if creds:
            return CREDENTIALS, 0.0, creds[0].reason, 0
        throttles = [o for o in outcomes if isinstance(o, Retry) and o.throttled]
        if throttles:
            # At least one cooldown: "Retry-After: 0" must not turn into a tight loop.
            asked = max((o.after or 0.0 for o in throttles), default=0.0)
            floor = float(self.delivery["breaker_cooldown"])
            return THROTTLE, self._bounded(max(asked, floor)), throttles[0].reason, 0
        failures = [o for o in outcomes if isinstance(o, Retry)]
        if failures and not any(isinstance(o, Delivered) for o in outcomes):
            asked = max((o.after or 0.0 for o in failures), default=0.0)
            return FAILURE, self._bounded(asked), failures[0].reason, requests
        return SUCCESS, 0.0, "", 0

    def _bounded(self, wait: float) -> float:
        """A provider's own wait, capped: a Retry-After of years must not pause it for years."""
        return min(wait, float(self.delivery["breaker_cooldown_cap"]))

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
            due = now + max(self._bounded(asked), self._backoff(attempts))
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
