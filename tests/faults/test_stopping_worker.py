"""A worker stopped mid-backlog under a slow one-event provider (GramPixel at 200 ms): it stops
at once, sends nothing new, settles what it sent and gives the rest back for another worker.

Three ways a worker is stopped, each while its batches are half sent:
- SIGTERM to the main process alone (``kill PID``, Kubernetes, ``docker stop``'s first signal);
- SIGTERM to its process group (systemd, Ctrl-C in a terminal): the pool children get it too;
- SIGTERM to the group, then SIGKILL 5 s later (docker's grace period, shortened).
Every request is the sandbox's record, stamped on arrival; the stopped worker is gone before
the next one starts, so a request is the stopped worker's when it came before that start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

#: The probe's backlog and latency.
EVENTS = 3000
LATENCY = 0.2
#: Once the stopped worker is gone the provider answers faster, so the next worker drains the
#: rest in seconds (at 200 ms it would take 35 s), and still long before the lease.
LATER_LATENCY = 0.02
CONNECTIONS = 16
CONCURRENCY = 2
#: The lease a stopped batch would otherwise wait out: the rest must go long before it.
LEASE = 60.0
#: Allowed between SIGTERM and the worker's exit.
EXIT_WITHIN = 5.0
KILL_AFTER = 5.0
#: A request whose record came later than this after the SIGTERM was started after it (one
#: started just before reaches the sandbox within milliseconds on loopback).
SEEN_WITHIN = 1.0
#: Requests the stopped worker may have in flight at once: every connection of each child.
IN_FLIGHT = CONNECTIONS * CONCURRENCY


@dataclass(frozen=True)
class Stop:
    group: bool
    kill: bool

    def send(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)


MAIN = Stop(group=False, kill=False)
GROUP = Stop(group=True, kill=False)
GROUP_THEN_KILL = Stop(group=True, kill=True)


@dataclass(frozen=True)
class Stopped:
    """What the stop came to, times from the SIGTERM, in seconds."""

    exited_after: float
    #: Requests of the stopped worker that reached the sandbox after the SIGTERM, and after
    #: SEEN_WITHIN of it.
    after_sigterm: int
    late: int
    #: The stopped worker's requests that were in flight when SIGKILL came (0 without one).
    in_flight_at_kill: int
    rest_delivered_after: float
    duplicates: int

    def line(self) -> str:
        return (
            f"exited {self.exited_after:.2f}s after SIGTERM; {self.after_sigterm} request(s) "
            f"reached the sandbox after it, {self.late} over {SEEN_WITHIN:g}s after; "
            f"{self.in_flight_at_kill} in flight at SIGKILL; the rest delivered "
            f"{self.rest_delivered_after:.1f}s after the next worker started; "
            f"{self.duplicates} duplicate(s)"
        )


def stop_mid_backlog(system: System, sandbox: SandboxServer, stop: Stop, events: int) -> Stopped:
    """Track ``events`` at once, stop the worker once it has delivered some, start another."""
    worker = system.worker
    assert worker is not None and worker.process is not None
    process = worker.process
    system.tracker.track_many(
        [
            {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
            for n in range(1, events + 1)
        ]
    )
    # Mid-batch: a claim of 128 takes 1.6 s at 16 connections; some are already out.
    wait_for(lambda: len(sandbox.received("grampixel")) >= 40, 30, interval=0.01)
    sigterm, mark = time.time(), time.monotonic()
    stop.send(worker.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_AFTER if stop.kill else EXIT_WITHIN + 30)
    exited = time.time()
    killed_at = None
    if stop.kill:
        pause_until(mark + KILL_AFTER)
        killed_at = time.time()
        stop.send(worker.pid, signal.SIGKILL)
        process.wait()
    worker.kill()  # the group's strays, if any
    sandbox.set_latency("grampixel", LATER_LATENCY)
    started = time.time()
    system.start_worker()
    wait_for(lambda: system.settled("grampixel", events), LEASE - 10, message=system.log())
    settled = time.time()
    records = sandbox.requests("grampixel")
    theirs = [r["timestamp"] for r in records if r["timestamp"] < started]
    received = [item["telegram_id"] for item in sandbox.received("grampixel")]
    dead = [
        json.loads(d["event"])["telegram_id"]
        for d in system.queue("grampixel").dead_letters(events)
    ]
    ledger = account(range(1, events + 1), received, dead)
    report(ledger, f"stopped {stop}")
    assert ledger.lost == 0 and ledger.dead == 0 and ledger.delivered == events
    in_flight = 0
    if killed_at is not None:
        # Started within a latency and a margin before the kill: possibly still out.
        in_flight = sum(1 for t in theirs if killed_at - LATENCY - 0.5 <= t <= killed_at)
    return Stopped(
        exited_after=exited - sigterm,
        after_sigterm=sum(1 for t in theirs if t > sigterm),
        late=sum(1 for t in theirs if t > sigterm + SEEN_WITHIN),
        in_flight_at_kill=in_flight,
        rest_delivered_after=settled - started,
        duplicates=ledger.duplicates,
    )


def check(stopped: Stopped, stop: Stop) -> None:
    print(stopped.line())
    if not stop.kill:
        assert stopped.exited_after <= EXIT_WITHIN, stopped.line()
    assert stopped.late == 0, stopped.line()
    assert stopped.after_sigterm <= IN_FLIGHT, stopped.line()
    assert stopped.duplicates <= stopped.in_flight_at_kill, stopped.line()
    # The rest was claimable at once: no lease was waited out.
    assert stopped.rest_delivered_after < LEASE / 2, stopped.line()


def start(make_system: Callable[..., System], sandbox: SandboxServer) -> System:
    sandbox.set_latency("grampixel", LATENCY)
    system = make_system(
        providers=["grampixel"],
        # run_seconds as long as the probe's: a run that ignores the stop holds the worker.
        delivery={"lease_seconds": LEASE, "run_seconds": 20.0},
        concurrency=CONCURRENCY,
        provider_overrides={"grampixel": {"max_connections": CONNECTIONS}},
    )
    system.wait_worker_ready()
    return system


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(MAIN, id="main"),
        pytest.param(GROUP, id="group", marks=pytest.mark.slow),  # group-then-kill covers it
        pytest.param(GROUP_THEN_KILL, id="group-then-kill"),
    ],
)
def test_a_stopped_worker_settles_what_it_sent_and_gives_back_the_rest(
    stop: Stop, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = start(make_system, sandbox)
    check(stop_mid_backlog(system, sandbox, stop, events=EVENTS), stop)
