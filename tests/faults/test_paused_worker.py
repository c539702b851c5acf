"""A worker paused past its lease (GC, a stopped VM, SIGSTOP) stops sending when it wakes:
another worker has reaped and resent its batch, and the stale one must not send it too."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.devtools import Child, worker_args
from tracking_worker.sandbox import SandboxServer

EVENTS = 300
CONNECTIONS = 4


def feed(system: System, stop: threading.Event) -> None:
    """A steady stream, about 150 events per second, until all are tracked."""
    for n in range(1, EVENTS + 1):
        system.tracker.track("purchase", telegram_id=n, value=1.0, currency="USD")
        if stop.is_set():
            return
        pause_until(time.monotonic() + 1 / 150)


def test_a_worker_paused_past_its_lease_does_not_resend_the_batch(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.set_latency("grampixel", 0.2)
    system = make_system(
        providers=["grampixel"],
        delivery={"lease_seconds": 3.0},
        provider_overrides={
            "grampixel": {
                "connect_timeout": 0.3,
                "read_timeout": 1.0,
                "max_connections": CONNECTIONS,
            }
        },
    )
    stop = threading.Event()
    producer = threading.Thread(target=feed, args=(system, stop))
    producer.start()
    try:
        wait_for(lambda: system.counts("grampixel")["leased_batches"], 20, interval=0.01)
        assert system.worker is not None
        os.killpg(system.worker.pid, signal.SIGSTOP)  # mid-batch, requests in flight
        other = Child(
            "worker-b",
            worker_args(concurrency=2, hostname=f"b-{system.hostname}"),
            env=system.env,
            log_path=system.home / "worker-b.log",
        ).start()
        try:
            wait_for(lambda: system.counts("grampixel")["reaped"] >= 1, 30, message="lease reaped")
            os.killpg(system.worker.pid, signal.SIGCONT)
            producer.join()
            wait_for(lambda: system.settled("grampixel", EVENTS), 60, message=system.log())
        finally:
            other.kill()
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
    assert ledger.lost == 0 and ledger.dead == 0 and ledger.delivered == EVENTS
    # Only the requests already in flight when the worker froze may arrive twice.
    assert ledger.duplicates <= CONNECTIONS
