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

from ..outcomes import Configuration, Credentials, Delivered, MappingFailed, Outcome, Retry
from ..providers.base import HttpRequest, HttpResponse, Provider
from ..redact import Redactor
from ..store.metrics import status_class
from ..store.ratelimit import RateLimiter
from .bisect import Attempt, Item, Round, bisect
from .lease import Lease
from .transport import Transport

log = logging.getLogger("tracking_worker.sender")


class Stop:
    """Shared by the chunks of one round: whether the provider lets the next request go out.

    Not after a refused key, a wrong setting, a rate limit, or ``threshold`` failures in a
    row (those chunks are retried); not for an event name whose route a configuration answer
    paused (its events are parked); not beyond the round's request ``budget`` (a half-open
    probe is exactly one request). Whether the batch's lease allows it is the Lease's to say.
    """

    def __init__(self, threshold: int, *, budget: int | None = None) -> None:
        self.threshold = threshold
        self.lock = threading.Lock()
        self.failures = 0
        self.outcome: Outcome | None = None
        self.budget = budget
        self.routes: dict[str, Configuration] = {}

    def note(self, outcome: Outcome) -> None:
        with self.lock:
            if isinstance(outcome, Configuration) and outcome.per_route:
                if outcome.route is not None:  # else: unnamed yet, the chunk is split
                    self.routes.setdefault(outcome.route, outcome)
            elif isinstance(outcome, Credentials | Configuration) or (
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

    def unsent(self, names: set[str] | None = None) -> Outcome | None:
        """The outcome for a chunk (of events with these ``names``) that is not sent, or
        None to send it (one request of the budget is taken)."""
        with self.lock:
            if self.outcome is not None:
                return self.outcome
            if names is not None and len(names) == 1 and next(iter(names)) in self.routes:
                return self.routes[next(iter(names))]
            if self.budget is not None:
                if self.budget <= 0:
                    return Retry("not sent: a half-open probe is one request", sent=False)
                self.budget -= 1
            return None


#: Once the worker is stopping, how long the requests already out may take to answer. Those
#: still out then are given back unanswered (another worker sends them again: the requests in
#: flight are what a stop may duplicate), so the batch is settled well within the seconds a
#: stop is given before SIGKILL (docker's 10 s), however slowly the provider answers.
STOP_GRACE = 2.0
#: How often the thread waiting on a batch's requests looks whether the worker is stopping.
STOP_POLL = 0.25
STOPPED = Retry("not sent: the worker is stopping", sent=False)


def _given_back(future: Future[Round], chunk: Sequence[Item]) -> Round:
    """What a chunk's future came to; when the worker stopped, the chunk unsent if its future
    never started, or unanswered (its request out, the answer not waited for)."""
    if future.cancelled():
        return Round([(raw, STOPPED) for raw, _ in chunk], 0)
    if future.done():
        return future.result()
    outcome = Retry("no answer before the worker stopped", sent=False)
    return Round([(raw, outcome) for raw, _ in chunk], 1)


#: Each request sent: its status class and how long it took. A plain list shared by a round's
#: threads: ``append`` is atomic, and nothing reads it before they are done.
Timings = list[tuple[str, float]]


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
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.provider = provider
        self.transport = transport
        self.executor = executor
        self.redact = redact
        self.limiter = limiter
        self.stop_after = stop_after
        self.lease = lease
        #: Whether the worker is stopping: no request starts once it is (those in flight
        #: finish), and what was not sent goes back without using an attempt.
        self.stopping = stopping

    def send(
        self,
        items: Sequence[Item],
        *,
        keep_alive: Callable[[], bool],
        probe: bool = False,
        since: float | None = None,
    ) -> Round:
        """Send every chunk (one request only for a probe). ``keep_alive`` renews the lease
        (see Lease for when) and says whether it is still held; ``since`` is when the lease
        was taken (``time.monotonic()`` before the claim; default now)."""
        size = self.provider.batch_size
        lease = Lease(
            keep_alive, lease=self.lease, since=time.monotonic() if since is None else since
        )
        stop = Stop(self.stop_after, budget=1 if probe else None)
        timings: Timings = []
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        if len(chunks) == 1:
            # One request's worth (a batching provider's batch): sent from this thread, not
            # handed to the pool and waited for; the lease is renewed between its requests.
            sent = self._chunk(chunks[0], lease, stop, timings)
        else:
            sent = self._pooled(chunks, lease, stop, timings)
        sent.lease_lost, sent.timings = lease.lost, timings
        return sent

    def _pooled(
        self, chunks: Sequence[Sequence[Item]], lease: Lease, stop: Stop, timings: Timings
    ) -> Round:
        """The chunks sent by the pool, while this thread renews the lease when due (first
        before any is sent: a worker frozen since its claim asks before the pool sends) and
        looks whether the worker is stopping (then it waits STOP_GRACE at most)."""
        lease.renew_if_due()
        futures = [self.executor.submit(self._chunk, c, lease, stop, timings) for c in chunks]
        pending: set[Future[Round]] = set(futures)
        given_up: float | None = None  # when requests still out are let go (stopping)
        while pending:
            if given_up is None and self.stopping():
                given_up = time.monotonic() + STOP_GRACE
                for future in pending:
                    future.cancel()  # not started: never will be
            now = time.monotonic()
            if given_up is not None and now >= given_up:
                break
            until = given_up if given_up is not None else now + STOP_POLL
            timeout = min(lease.due_in(), until - now)
            _, pending = wait(pending, timeout=timeout, return_when=FIRST_EXCEPTION)
            if pending:
                lease.renew_if_due()
        total = Round()
        for future, chunk in zip(futures, chunks, strict=True):
            total.add(_given_back(future, chunk))
        return total

    def _chunk(self, chunk: Sequence[Item], lease: Lease, stop: Stop, timings: Timings) -> Round:
        """Every event of the chunk comes back with an outcome, whatever happens here."""
        try:
            return bisect(chunk, lambda part: self._attempt(part, lease, stop, timings))
        except Exception as exc:
            log.exception("%s: sending a chunk failed", self.provider.name)
            failed = Retry(self.redact(f"send failed: {type(exc).__name__}: {exc}"))
            return Round([(raw, failed) for raw, _ in chunk], 0)

    def _attempt(
        self, chunk: Sequence[Item], lease: Lease, stop: Stop, timings: Timings
    ) -> Attempt:
        """One request for the chunk, unless the lease or the round stops it; a mapping that
        raises on one event is that event's poison, on several a reason to split them."""
        lease.renew_if_due()
        names = {event.name for _, event in chunk}
        skipped = self._stopped() or lease.unsent() or stop.unsent(names)
        if skipped is not None:
            return Attempt(skipped, 0)
        try:
            request = self.provider.build_request([event for _, event in chunk])
        except Exception as exc:  # noqa: BLE001 - a mapping bug must not block the queue
            reason = self.redact(f"mapping failed: {type(exc).__name__}: {exc}")
            return Attempt(MappingFailed(reason), 0)
        outcome = self._exchange(request, chunk, timings)
        if isinstance(outcome, Configuration) and outcome.per_route and len(names) == 1:
            outcome = dataclasses.replace(outcome, route=names.pop())
        stop.note(outcome)
        return Attempt(outcome, 1)

    def _stopped(self) -> Retry | None:
        return STOPPED if self.stopping() else None

    def _exchange(
        self, request: HttpRequest, chunk: Sequence[Item], timings: Timings | None = None
    ) -> Outcome:
        if self.limiter is not None:
            self.limiter.acquire()
        started = time.perf_counter()
        answer = self.transport.send(request)
        if timings is not None:
            klass = status_class(getattr(answer, "status", None))
            timings.append((klass, time.perf_counter() - started))
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
        if note and log.isEnabledFor(logging.DEBUG):  # one line per event: DEBUG
            log.debug(
                "%s: delivered event %s (%s)",
                self.provider.name,
                chunk[0][1].event_id,
                self.redact(note),
            )
