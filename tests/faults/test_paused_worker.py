"""A worker paused past its lease (GC, a stopped VM, SIGSTOP) stops sending when it wakes:
another worker has reaped and resent its batch, and the stale one must not send it too.

The sandbox names the process behind each request, so each duplicate is put down to its cause
instead of all being counted against the pause:
- the paused worker sent an event before it froze but could not record it, so the worker that
  took over the batch sent it again: what any pause costs, however the woken worker behaves;
- the paused worker sent after it woke: what this test forbids, beyond the requests it had
  already started when it froze;
- the healthy worker sent an event twice: it waits out any answer (under load one can take
  seconds), so it never gives up on a request and sends it again.
The paused worker is woken once the other has delivered everything: nothing is left for it to
send then, so whatever it sends is a batch whose lease it lost, never new work.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

EVENTS = 300
CONNECTIONS = 4
PAUSED, HEALTHY = "paused", "healthy"


def feed(system: System, stop: threading.Event) -> None:
    """A steady stream, about 150 events per second, until all are tracked."""
    for n in range(1, EVENTS + 1):
        system.tracker.track("purchase", telegram_id=n, value=1.0, currency="USD")
        if stop.is_set():
            return
        pause_until(time.monotonic() + 1 / 150)


@dataclass(frozen=True)
class Blame:
    """Who sent what, from the sandbox's records (grampixel: one event per request)."""

    #: Events the paused worker delivered before it froze.
    before: frozenset[int]
    #: Events the healthy worker delivered.
    healthy: frozenset[int]
    #: The healthy worker's requests for an event it had delivered already.
    healthy_resends: int
    #: Requests the paused worker sent after it woke: each one a resend (nothing was left).
    after_waking: int

    @property
    def unrecorded(self) -> int:
        """Events sent by both: the paused worker could not record them before it froze."""
        return len(self.before & self.healthy)

    def line(self) -> str:
        return (
            f"paused worker: {len(self.before)} delivered before freezing, "
            f"{self.after_waking} request(s) after waking; healthy worker: "
            f"{len(self.healthy)} delivered, {self.unrecorded} of them sent by the paused one "
            f"too, {self.healthy_resends} resend(s) of its own"
        )


def blame(records: list[dict[str, Any]], sender: Callable[[Any], str], woke: float) -> Blame:
    """``sender`` names the worker behind a record's ``client_pid``; ``woke`` is when the
    paused worker was woken (the records' clock)."""
    before: set[int] = set()
    healthy: Counter[int] = Counter()
    after_waking = 0
    for record in records:
        who = sender(record["client_pid"])
        if who == PAUSED and record["timestamp"] >= woke:
            after_waking += 1
        elif record["outcome"] == "accepted":
            event = record["body"]["telegram_id"]
            if who == PAUSED:
                before.add(event)
            else:
                healthy[event] += 1
    resends = sum(n - 1 for n in healthy.values())
    return Blame(frozenset(before), frozenset(healthy), resends, after_waking)


def worker_of(groups: Mapping[int, str]) -> Callable[[Any], str]:
    """Names the worker whose process group (a Celery worker and its pool) holds ``pid``.
    Call while the workers run: the lookup needs the process."""

    def sender(pid: Any) -> str:
        if pid is None:
            # The sandbox looks the client up at its first request on a connection; only the
            # paused worker (1 s read timeout) can have given up and closed its end by then.
            # Counted as its: after the wake, against it.
            return PAUSED
        try:
            return groups[os.getpgid(pid)]
        except (ProcessLookupError, KeyError):
            raise AssertionError(f"request from process {pid}, of neither worker") from None

    return sender


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox of this test (``make_system`` points at it): its records name the process
    that sent each request."""
    with SandboxServer(identify_clients=True) as server:
        yield server


@pytest.fixture
def standby(redis_url: str, sandbox: SandboxServer, tmp_path: Path) -> Iterator[System]:
    """The worker that takes over, not started yet. Its timeouts and lease outlast any answer
    the sandbox gives here, so it never gives up on a request to send it again."""
    system = System(
        tmp_path / "standby",
        redis_url,
        sandbox.url,
        providers=["grampixel"],
        beat=False,
        delivery={"lease_seconds": 60.0},
        provider_overrides={
            "grampixel": {
                "connect_timeout": 5.0,
                "read_timeout": 50.0,
                "max_connections": CONNECTIONS,
            }
        },
    )
    yield system
    system.stop()


def test_a_worker_paused_past_its_lease_does_not_resend_the_batch(
    make_system: Callable[..., System], standby: System, sandbox: SandboxServer
) -> None:
    sandbox.set_latency("grampixel", 0.2)
    system = make_system(
        providers=["grampixel"],
        # run_seconds sets the task's time limits (it plus 4 and 5 leases): they must outlast
        # the pause, or Celery ends the task on waking before the worker's own guard acts.
        delivery={"lease_seconds": 3.0, "run_seconds": 60.0},
        provider_overrides={
            "grampixel": {
                "connect_timeout": 0.3,
                "read_timeout": 1.0,
                "max_connections": CONNECTIONS,
            }
        },
    )
    assert system.worker is not None
    stop = threading.Event()
    producer = threading.Thread(target=feed, args=(system, stop))
    producer.start()
    try:
        wait_for(lambda: system.counts("grampixel")["leased_batches"], 20, interval=0.01)
        os.killpg(system.worker.pid, signal.SIGSTOP)  # mid-batch, requests in flight
        standby.start()
        producer.join()
        wait_for(lambda: system.settled("grampixel", EVENTS), 60, message=standby.log())
        lost = system.counts("grampixel")["reaped"]  # only the paused worker's leases expire
        assert lost >= 1
        woke = time.time()
        os.killpg(system.worker.pid, signal.SIGCONT)
        # Each batch it was sending ends with its lease found lost (logged): it is done.
        wait_for(
            lambda: worker_log(system).count("lost before settling") >= lost,
            30,
            message=f"the woken worker gives up {lost} batch(es)\n{worker_log(system)[-4000:]}",
        )
        assert standby.worker is not None
        groups = {system.worker.pid: PAUSED, standby.worker.pid: HEALTHY}
        who = blame(sandbox.requests("grampixel"), worker_of(groups), woke)
    finally:
        stop.set()
        producer.join()
    received = [item["telegram_id"] for item in sandbox.received("grampixel")]
    dead = [
        json.loads(d["event"])["telegram_id"]
        for d in system.queue("grampixel").dead_letters(EVENTS)
    ]
    ledger = account(range(1, EVENTS + 1), received, dead)
    report(ledger, "sigstop past the lease")
    print(who.line())
    assert ledger.lost == 0 and ledger.dead == 0 and ledger.delivered == EVENTS
    # Each event came from the healthy worker, or from the paused one before it froze.
    everyone = who.healthy | who.before
    assert who.healthy and everyone == set(range(1, EVENTS + 1)), who.line()
    resends, after_waking = who.healthy_resends, who.after_waking
    assert resends == 0, who.line()
    # Only the requests it had started when it froze may reach the sandbox after it wakes.
    assert after_waking <= CONNECTIONS, who.line()


def worker_log(system: System) -> str:
    return (system.home / "worker.log").read_text(errors="replace")
