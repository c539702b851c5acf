"""Deliver one provider: circuit check, claim, send (concurrently, bisecting rejects), settle.

Every event of a claimed batch ends in exactly one place: delivered, back in the retry set with
a due time, or in the dead-letter stream with a reason. Nothing here raises past ``run`` except
a Redis failure, and then the lease brings the batch back.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import StoreUnavailable
from ..providers.base import Provider
from ..redact import Redactor
from ..settings import DeliverySettings
from ..store.circuit import CONFIGURATION, NOTHING, REJECTED, SUCCESS, Circuit
from ..store.queue import Batch, ProviderQueue, Settlement
from ..store.ratelimit import RateLimiter
from ..store.routes import Routes
from ..store.runs import RunSlot
from . import hooks, policy
from .bisect import Item, Round
from .dry_run import DryRunSender
from .fingerprint import settings_fingerprint
from .heartbeat import RunHeartbeat
from .outcome_log import log_batch, report_dead
from .pauses import Pauses, log_opened
from .sender import Sender
from .transport import Transport

log = logging.getLogger("tracking_worker.delivery")

#: A provider whose quickest request of a healthy round answered within this many seconds is
#: quick: it may have more than one run per worker node while a backlog waits; a slower one
#: keeps to one process per node. Judged by its answers, not by a round's length, which grows
#: with the claim (a one-event provider's round sends 8 requests per connection).
FAST_REQUEST = 1.0

#: Reports a failure worth a human's attention: kind, provider, reason, how many events.
Report = Callable[[str, str, str, int], object]


@dataclass
class RunReport:
    """What one run did; the deliver task returns it, so Flower shows it."""

    batches: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    paused: bool = False
    more: bool = False
    busy: bool = False
    #: Events a dry run rendered and logged instead of sending.
    dry_run: int = 0

    def count(self, settled: Settlement) -> None:
        self.batches += 1
        if settled.delivered_as == "dry_run":
            self.dry_run += settled.delivered
        else:
            self.delivered += settled.delivered
        self.retried += len(settled.retry)
        self.dead += len(settled.dead)


class Deliverer:
    """Runs deliveries of one provider in one worker process."""

    def __init__(
        self,
        provider: Provider,
        queue: ProviderQueue,
        circuit: Circuit,
        transport: Transport,
        executor: Executor,
        delivery: DeliverySettings,
        *,
        clock: Callable[[], float] = time.time,
        rand: random.Random | None = None,
        limiter: RateLimiter | None = None,
        report: Report | None = None,
        stopping: Callable[[], bool] = lambda: False,
        dry_run: bool = False,
    ) -> None:
        self.provider = provider
        #: Render and log each request instead of sending it (delivery/dry_run.py).
        self.dry_run = dry_run
        #: Whether this worker is stopping (worker/stopping.py): a run then claims nothing
        #: more, starts no request, settles what went out and gives the rest back at once.
        self.stopping = stopping
        #: Error reporting (Sentry) for dead letters and refused keys, passed in by the worker.
        self.report = report
        self.queue = queue
        self.circuit = circuit
        self.delivery = delivery
        self.clock = clock
        self.rand = rand or random.Random()
        self.claim_size = provider.claim_size(delivery.lease_seconds)
        #: Batches claimed and sent at once. A batching API gets one request per batch, so a
        #: round claims enough request-sized batches to keep every connection busy (each with
        #: its own id and lease: a crash loses nothing, a bisect stays inside its batch). A
        #: one-event API fills its connections from one claim (its chunks share the pool), two
        #: claims at a time so the next one's requests start while the last ones of a claim are
        #: still out; a rate-limited one is paced by the limiter, not by connections.
        if provider.rate_limit:
            self.parallel = 1
        else:
            self.parallel = provider.max_connections if provider.batch_size > 1 else 2
        #: Pending events that make one more run worth a worker process: two full rounds.
        self.per_run = 2 * self.claim_size * self.parallel
        self.pauses = Pauses(
            provider,
            Routes(queue.client, queue.scripts, queue.keys),
            circuit,
            report=report,
            clock=clock,
        )
        self.rounds = ThreadPoolExecutor(self.parallel, thread_name_prefix=f"tw-{provider.name}")
        self.redact = Redactor(provider.secrets)
        #: The provider's before_send, imported once (a bad path fails the worker's start).
        self.hook = hooks.load_hook(provider)
        self.sender = (DryRunSender if dry_run else Sender)(
            provider,
            transport,
            executor,
            redact=self.redact,
            limiter=limiter,
            stop_after=delivery.breaker_threshold,
            lease=delivery.lease_seconds,
            stopping=stopping,
        )

    def run(
        self, *, flush: bool, recruit: Callable[[], object] | None = None, node: str = ""
    ) -> RunReport:
        """Deliver what is due, then stop: due retries and full batches, and with ``flush`` a
        partial batch whose oldest event has waited ``flush_interval``. A run does not stay to
        collect single events as they arrive (it would hold a worker slot for a trickle);
        ``run_seconds`` bounds a busy one, which then hands over to a new message.

        A provider has as many runs at once as its backlog calls for and the live worker
        processes can run, up to ``max_runs`` (store/lua/run_slot.lua); a run that finds no
        slot returns at once, and the running ones see its work. ``node`` is the worker node
        this run is on: a node runs a second run of the provider only while it answers
        quickly, so a slow provider holds one process per node, never all of them (its
        concurrency is its own ``max_connections``). While the slots allow more runs,
        ``recruit`` sends one more message so another process joins in (at most one waits:
        the trigger mark): as the run starts, and after each quick round; a run that found no
        slot sends nothing, so messages never ping-pong. The slot is held by a heartbeat
        (delivery/heartbeat.py).
        """
        report = RunReport()
        slot = RunSlot(
            self.queue.client,
            self.queue.scripts,
            self.queue.keys,
            node=node,
            lapse=self.delivery.lapse_seconds,
            cap=self.delivery.max_runs,
            per_run=self.per_run,
        )
        taken = slot.take()
        if not taken.done:
            report.busy = True
            return report
        every, lapse = self.delivery.heartbeat_seconds, self.delivery.lapse_seconds
        with RunHeartbeat(slot, taken, every=every, lapse=lapse) as beat:
            self.pauses.start()
            if recruit is not None and taken.room > 0:
                recruit()  # another node's first run needs no word on speed: ask at once
            self._loop(flush, report, beat, recruit, first=taken.rank == 0)
        return report

    def _loop(
        self,
        flush: bool,
        report: RunReport,
        beat: RunHeartbeat,
        recruit: Callable[[], object] | None,
        *,
        first: bool,
    ) -> None:
        deadline = self.clock() + self.delivery.run_seconds
        width = 1  # batches per round: see policy.next_width
        while True:
            if self.stopping() or self.clock() >= deadline or not beat.held:
                report.more = True  # another worker takes over what is left
                return
            verdict = self.circuit.allow()
            if not verdict.allowed:
                report.paused = True
                return
            probe = verdict.state == "half"
            batches = self._claim(flush, probe=probe, width=width)
            if not batches:
                if probe:
                    self.circuit.release_probe()
                return
            send = functools.partial(self._process, probe=probe)
            healthy, cpu = True, time.process_time()
            quickest: list[float] = []
            for settled, health, fastest in self.rounds.map(send, batches):
                healthy = healthy and health.kind in (SUCCESS, NOTHING, REJECTED)
                if probe and health.kind == SUCCESS:  # a state change: said at INFO
                    log.info(
                        "%s: circuit closed: the half-open probe succeeded", self.provider.name
                    )
                if settled is not None:
                    report.count(settled)
                if fastest is not None:
                    quickest.append(fastest)
            latency = min(quickest, default=None)
            width = policy.next_width(
                width,
                healthy=healthy,
                latency=latency,
                cpu=(time.process_time() - cpu) / len(batches),
                most=self.parallel,
            )
            fast = healthy and (latency is None or latency <= FAST_REQUEST)
            beat.report(fast=fast)
            if not (fast or first):
                return  # slow: the node's first run goes on, this process goes back
            if recruit is not None and fast and beat.room > 0:
                recruit()

    def _claim(self, flush: bool, *, probe: bool, width: int) -> list[Batch]:
        """What this round sends: up to ``width`` batches that are due. A half-open probe
        claims one request's worth and sends one request."""
        size = self.provider.batch_size if probe else self.claim_size
        batches: list[Batch] = []
        while len(batches) < (1 if probe else width) and not self.stopping():
            batch = self.queue.claim(
                lease=self._lease, size=size, flush=flush, wait=self.delivery.flush_interval
            )
            if batch is None:
                break
            batches.append(batch)
        return batches

    @property
    def _lease(self) -> float:
        return self.delivery.lease_seconds

    def _process(
        self, batch: Batch, *, probe: bool
    ) -> tuple[Settlement | None, policy.Health, float | None]:
        """Screen, send, judge and settle one batch: the settlement (None when the batch's
        lease was lost), what the round said about the provider, and how long its quickest
        request took (None when none was sent)."""
        started = time.monotonic()
        screened = policy.screen(
            batch.events,
            attempts=batch.attempts,
            last_error=batch.last_error,
            now=self.clock(),
            delivery=self.delivery,
        )
        shaped = hooks.shape(self.hook, self.provider, screened.live, self.redact)
        live, parked = self.pauses.set_aside(shaped.live)
        sent = self._send(batch, live, probe) if live else Round()
        fastest = min((seconds for _, seconds in sent.timings), default=None)
        health = policy.round_health(
            [o for _, o in sent.results], requests=sent.requests, delivery=self.delivery
        )
        # A success is written by settle.lua with the batch (settlement.closes_circuit).
        succeeded = health.kind == SUCCESS and not sent.lease_lost
        open_until, storm = 0.0, False
        if not (succeeded or sent.lease_lost):
            open_until, storm = self._record(health, probe=probe)
        settlement = policy.settle_round(
            sent.results,
            attempts=batch.attempts,
            open_until=open_until,
            delivery=self.delivery,
            redact=self.redact,
            rand=self.rand,
            storm=storm,
        )
        for route, raws in parked.items():
            settlement.parked.setdefault(route, []).extend(raws)
        self.pauses.record(settlement, sent.results)
        settlement.dead[:0] = [*screened.dead, *shaped.dead]
        settlement.dropped = shaped.dropped
        settlement.requests = sent.requests
        settlement.timings = sent.timings
        settlement.closes_circuit = succeeded
        if self.dry_run:
            settlement.delivered_as = "dry_run"
        if not self._settle(batch, settlement):
            log.warning(
                "%s: lease of batch %s lost before settling; it will be resent",
                self.provider.name,
                batch.id,
            )
            return None, health, fastest
        if not self.dry_run:  # a dry run's batch says itself (its sender)
            log_batch(self.provider.name, batch, settlement, sent, time.monotonic() - started)
        report_dead(self.report, self.provider.name, settlement)
        return settlement, health, fastest

    def _settle(self, batch: Batch, settlement: Settlement) -> bool:
        """Settle, waiting out a Redis that refuses or is away for up to a lease: what was sent
        is then settled once, not sent again when its lease runs out. Repeating is safe, since
        settle.lua settles only a batch still leased to us and writes nothing when refused."""
        deadline, pause = time.monotonic() + self._lease, 0.1
        while True:
            try:
                return self.queue.settle(batch, settlement)
            except StoreUnavailable:
                if time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # backing off from Redis, not synchronising
            pause = min(2 * pause, 2.0)

    def _record(self, health: policy.Health, *, probe: bool) -> tuple[float, bool]:
        """Tell the circuit what the round said; returns when the provider may be tried again
        (Redis time), and whether the round's rejects made it a storm that paused the
        provider. A probe that sent nothing gives its slot back."""
        if health.kind == NOTHING:
            if probe:
                self.circuit.release_probe()
            return 0.0, False
        reason = self.redact(health.reason)
        fingerprint = ""
        if health.kind == CONFIGURATION:
            fingerprint = settings_fingerprint(self.provider.settings)
        change = self.circuit.record(
            health.kind,
            wait=health.wait,
            reason=reason,
            failures=health.failures,
            setting=health.setting,
            fingerprint=fingerprint,
        )
        if change.opened:
            log_opened(
                self.provider.name, self.report, health, reason, change.open_until - change.now
            )
        return change.open_until, change.opened and health.kind == REJECTED

    def _send(self, batch: Batch, items: list[Item], probe: bool) -> Round:
        """The batch's events sent; the sender's Lease renews the batch's lease (the run's slot
        is its heartbeat's)."""

        def keep_alive() -> bool:
            return self.queue.renew(batch, lease=self._lease)

        return self.sender.send(items, keep_alive=keep_alive, probe=probe, since=batch.claimed_at)
