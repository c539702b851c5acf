"""SIGKILL the whole worker at random points while 2,000 events flow, two rounds: 0 lost."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable

import pytest

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

EVENTS = 2000


def produce(system: System, first: int, done: threading.Event) -> None:
    """2,000 purchases in chunks of 20, about 1,000 per second."""
    for start in range(first, first + EVENTS, 20):
        system.tracker.track_many(
            [
                {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
                for n in range(start, start + 20)
            ]
        )
        pause_until(time.monotonic() + 0.02)
    done.set()


@pytest.mark.parametrize("round_", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_sigkill_while_events_flow_loses_nothing(
    round_: int, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    rand = random.Random(round_)
    sandbox.set_latency("graspil", 0.05)
    sandbox.set_latency("grampixel", 0.02)
    fast = {"connect_timeout": 0.3, "read_timeout": 1.5}
    system = make_system(
        providers=["graspil", "grampixel"],
        delivery={"lease_seconds": 2.0},
        provider_overrides={"graspil": fast, "grampixel": fast},
    )
    first = round_ * 100_000
    done = threading.Event()
    producer = threading.Thread(target=produce, args=(system, first, done))
    producer.start()
    for _ in range(2):
        kill_at = rand.uniform(0.3, 1.5)
        wait_for(
            lambda: any(system.counts(p)["leased_batches"] for p in ("graspil", "grampixel")),
            20,
            interval=0.01,
            message="a batch in flight",
        )
        pause_until(time.monotonic() + kill_at)
        assert system.worker is not None
        system.worker.kill()
        system.start_worker()
    producer.join()
    produced = list(range(first, first + EVENTS))
    for provider, key in (("graspil", "user_id"), ("grampixel", "telegram_id")):
        wait_for(lambda p=provider: system.settled(p, EVENTS), 90, message=system.log())
        dead = [
            json.loads(d["event"])["telegram_id"]
            for d in system.queue(provider).dead_letters(EVENTS)
        ]
        ledger = account(produced, [i[key] for i in sandbox.received(provider)], dead)
        report(ledger, f"sigkill round {round_} {provider}")
        assert ledger.lost == 0 and ledger.dead == 0
        assert ledger.delivered == EVENTS
        assert system.counts(provider)["delivered"] == EVENTS
