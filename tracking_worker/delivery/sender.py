"""Send one claimed batch: chunks of ``batch_size`` concurrently over the pooled transport,
rejected multi-event chunks bisected to isolate the culprits, and the rest of a round stopped
once the provider is clearly failing, so a down provider gets a few requests, not hundreds.

Every event comes back with an outcome, whatever happens in a chunk's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait

from ..errors import StoreError
from ..outcomes import Credentials, Delivered, MappingFailed, Outcome, Retry
from ..providers.base import HttpRequest, HttpResponse, Provider
from ..redact import Redactor
from ..store.metrics import status_class
from ..store.ratelimit import RateLimiter
from .bisect import Attempt, Item, Round, bisect
from .transport import Transport

log = logging.getLogger("tracking_worker.sender")


class Stop:
    """Shared by the chunks of one round: whether the next request may still go out.

    Not after a refused key, a rate limit, or ``threshold`` failures in a row (those chunks
    are retried); not beyond the round's request ``budget`` (a half-open probe is exactly one
    request); and never once the batch's lease may have run out: a worker paused past its
    lease (GC, a stopped VM, SIGSTOP) must not send what another worker now sends again.
    """

    def __init__(
        self, threshold: int, *, budget: int | None = None, hold: float, since: float
    ) -> None:
        self.threshold = threshold
        self.lock = threading.Lock()
        self.failures = 0
        self.outcome: Outcome | None = None
        self.budget = budget
        #: How long after the lease was taken or last renewed a request may still start.
        self.hold = hold
        #: Counted from ``since``, the moment before the claim was sent (``time.monotonic()``),
        #: not from now: a worker frozen between its claim and its first request must not take
        #: its waking for a fresh lease (it sent 20 requests of a batch another worker had).
        self.held_until = since + hold
        self.lease_lost = False
        self.timings: list[tuple[str, float]] = []
        #: Set when the chunk is sent from the renewing thread itself: renews the lease between
        #: its requests once a third of a lease has passed (a long bisect).
        self.keep_alive: Callable[[], bool] | None = None
        self.renew_at = since + hold / 2

    def timed(self, klass: str, seconds: float) -> None:
        with self.lock:
            self.timings.append((klass, seconds))

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

    def renew_if_due(self) -> None:
        if self.keep_alive is None or time.monotonic() < self.renew_at:
            return
        since = time.monotonic()
        try:
            held = self.keep_alive()
        except StoreError:  # whether it is still ours cannot be told: send no more of it
            held = False
        self.renewed(held, since)
        self.renew_at = since + self.hold / 2

    def renewed(self, held: bool, since: float) -> None:
        """The lease was renewed (or found lost) by a call sent at ``since`` (monotonic): the
        new lease runs from no earlier than that, whenever this thread saw the answer."""
        with self.lock:
            if held and not self.lease_lost:
                self.held_until = max(self.held_until, since + self.hold)
            else:
                self.lease_lost = True

    def unsent(self) -> Outcome | None:
        """The outcome for a chunk that is not sent, or None to send it (one request of the
        budget is taken)."""
        with self.lock:
            if self.lease_lost or time.monotonic() >= self.held_until:
                self.lease_lost = True
                return Retry("not sent: the batch's lease ran out (worker paused?)", sent=False)
            if self.outcome is not None:
                return self.outcome
            if self.budget is not None:
                if self.budget <= 0:
                    return Retry("not sent: a half-open probe is one request", sent=False)
                self.budget -= 1
            return None


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
        lease: float = 60.0,
    ) -> None:
        self.provider = provider
        self.transport = transport
        self.executor = executor
        self.redact = redact
        self.limiter = limiter
        self.stop_after = stop_after
        self.lease = lease

    def send(
        self,
        items: Sequence[Item],
        *,
        keep_alive: Callable[[], bool],
        probe: bool = False,
        since: float | None = None,
    ) -> Round:
        """Send every chunk (one request only for a probe). ``keep_alive`` renews the lease a
        third of a lease apart and says whether it is still held; ``since`` is when the lease
        was taken (``time.monotonic()`` before the claim; default now)."""
        size = self.provider.batch_size
        # Renewals come a third of a lease apart: twice that without one means this process
        # was frozen (GC, a stopped VM, SIGSTOP) and the batch may be another worker's now.
        stop = Stop(
            self.stop_after,
            budget=1 if probe else None,
            hold=self.lease * 2 / 3,
            since=time.monotonic() if since is None else since,
        )
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        if len(chunks) == 1:
            # One request's worth (a batching provider's batch): sent from this thread, not
            # handed to the pool and waited for. The lease is renewed between its requests.
            stop.keep_alive = keep_alive
            sent = self._chunk(chunks[0], stop)
            sent.lease_lost, sent.timings = stop.lease_lost, stop.timings
            return sent
        futures = [self.executor.submit(self._chunk, chunk, stop) for chunk in chunks]
        pending: set[Future[Round]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=self.lease / 3, return_when=FIRST_EXCEPTION)
            if pending:
                asked = time.monotonic()
                stop.renewed(keep_alive(), asked)
        total = Round(lease_lost=stop.lease_lost, timings=stop.timings)
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
        stop.renew_if_due()
        skipped = stop.unsent()
        if skipped is not None:
            return Attempt(skipped, 0)
        try:
            request = self.provider.build_request([event for _, event in chunk])
        except Exception as exc:  # noqa: BLE001 - a mapping bug must not block the queue
            reason = self.redact(f"mapping failed: {type(exc).__name__}: {exc}")
            return Attempt(MappingFailed(reason), 0)
        outcome = self._exchange(request, chunk, stop)
        stop.note(outcome)
        return Attempt(outcome, 1)

    def _exchange(
        self, request: HttpRequest, chunk: Sequence[Item], stop: Stop | None = None
    ) -> Outcome:
        if self.limiter is not None:
            self.limiter.acquire()
        started = time.perf_counter()
        answer = self.transport.send(request)
        if stop is not None:
            klass = status_class(getattr(answer, "status", None))
            stop.timed(klass, time.perf_counter() - started)
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
