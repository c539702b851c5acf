"""Send one claimed batch: chunks of ``batch_size`` concurrently over the pooled transport,
rejected multi-event chunks bisected to isolate the culprits, and the rest of a round stopped
once the provider is clearly failing, so a down provider gets a few requests, not hundreds.

Every event comes back with an outcome, whatever happens in a chunk's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait

from ..outcomes import Credentials, Delivered, MappingFailed, Outcome, Retry
from ..providers.base import HttpRequest, HttpResponse, Provider
from ..redact import Redactor
from ..store.ratelimit import RateLimiter
from .bisect import Attempt, Item, Round, bisect
from .transport import Transport

log = logging.getLogger("tracking_worker.sender")


class Stop:
    """Shared by the chunks of one round: after a refused key, a rate limit, or ``threshold``
    failures in a row, chunks not yet sent are not sent (their events are retried)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.lock = threading.Lock()
        self.failures = 0
        self.outcome: Outcome | None = None

    def note(self, outcome: Outcome) -> None:
        with self.lock:
            if isinstance(outcome, Credentials) or (
                isinstance(outcome, Retry) and outcome.throttled
            ):
                self.outcome = self.outcome or outcome
            elif isinstance(outcome, Retry):
                self.failures += 1
                if self.failures >= self.threshold and self.outcome is None:
                    self.outcome = Retry(
                        f"not sent after {self.failures} failures in a row: {outcome.reason}",
                        outcome.status,
                    )
            else:
                self.failures = 0

    def unsent(self) -> Outcome | None:
        """The outcome for a chunk that is skipped, or None to send it."""
        with self.lock:
            return self.outcome


class Sender:
    """One per provider per worker process; thread-safe."""

    def __init__(
        self,
        provider: Provider,
        transport: Transport,
        executor: Executor,
        *,
        redact: Redactor,
        limiter: RateLimiter | None = None,
        stop_after: int = 5,
    ) -> None:
        self.provider = provider
        self.transport = transport
        self.executor = executor
        self.redact = redact
        self.limiter = limiter
        self.stop_after = stop_after

    def send(self, items: Sequence[Item], *, keep_alive: Callable[[], None], every: float) -> Round:
        """Send every chunk; ``keep_alive`` (lease renewal) runs every ``every`` seconds."""
        size = self.provider.batch_size
        stop = Stop(self.stop_after)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        futures = [self.executor.submit(self._chunk, chunk, stop) for chunk in chunks]
        pending: set[Future[Round]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=every, return_when=FIRST_EXCEPTION)
            if pending:
                keep_alive()
        total = Round()
        for future in futures:
            total.add(future.result())
        return total

    def _chunk(self, chunk: Sequence[Item], stop: Stop) -> Round:
        """Every event of the chunk comes back with an outcome, whatever happens here."""
        try:
            return bisect(chunk, lambda part: self._attempt(part, stop))
        except Exception as exc:
            log.exception("%s: sending a chunk failed", self.provider.name)
            failed = Retry(self.redact(f"send failed: {type(exc).__name__}: {exc}"))
            return Round([(raw, failed) for raw, _ in chunk], 0)

    def _attempt(self, chunk: Sequence[Item], stop: Stop) -> Attempt:
        """One request for the chunk, unless the round was stopped; a mapping that raises on
        one event is that event's poison, on several a reason to split them."""
        skipped = stop.unsent()
        if skipped is not None:
            return Attempt(skipped, 0)
        try:
            request = self.provider.build_request([event for _, event in chunk])
        except Exception as exc:  # noqa: BLE001 - a mapping bug must not block the queue
            reason = self.redact(f"mapping failed: {type(exc).__name__}: {exc}")
            return Attempt(MappingFailed(reason), 0)
        outcome = self._exchange(request, chunk)
        stop.note(outcome)
        return Attempt(outcome, 1)

    def _exchange(self, request: HttpRequest, chunk: Sequence[Item]) -> Outcome:
        if self.limiter is not None:
            self.limiter.acquire()
        answer = self.transport.send(request)
        if isinstance(answer, Retry):
            return dataclasses.replace(answer, reason=self.redact(answer.reason))
        # Scrubbed before the provider reads it: reasons and excerpts derive from this text.
        response = dataclasses.replace(answer, text=self.redact(answer.text))
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
