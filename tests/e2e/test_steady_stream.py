"""A steady stream, as a web app sends it: 25 events/s for 60 s to all five providers through a
worker with two slots and beat. Partial batches must wait to fill, and every event must reach
every provider within flush_interval + 3 s, also while one provider answers 503 for a while."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from tests.fleet.stream import ids_in
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

RATE, SECONDS, FLUSH = 25, 60, 2.0
PROVIDERS = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")
#: Events per request the API allows.
CAPS = {"graspil": 100, "tganalytics": 20}


def produce(system: System, tracked: dict[int, float], events: int) -> None:
    """One event every 1/RATE s, on a schedule (not as fast as possible)."""
    start = time.monotonic()
    for n in range(1, events + 1):
        pause_until(start + n / RATE)
        tracked[n] = time.time()
        system.tracker.track(
            "purchase",
            telegram_id=n,
            email=f"steady-{n}@example.test",
            visitor_id=f"steady-{n}",
            session_id=str(uuid.uuid4()),
            value=1.0,
            currency="USD",
            order_id=f"o-{n}",
        )


def delays(sandbox: SandboxServer, provider: str, tracked: dict[int, float]) -> list[float]:
    """Per event: from track() to the first request that delivered it."""
    first: dict[int, float] = {}
    for record in sandbox.requests(provider):
        if record.get("outcome") == "accepted":
            for n in ids_in(provider, record["body"], "steady"):
                first.setdefault(n, record["timestamp"])
    missing = set(tracked) - set(first)
    assert not missing, f"{provider}: {len(missing)} events not delivered"
    return sorted(first[n] - tracked[n] for n in tracked)


def p99(values: list[float]) -> float:
    return values[int(len(values) * 0.99) - 1]


def stream(
    make_system: Callable[..., System],
    sandbox: SandboxServer,
    fault: Callable[[], None],
    seconds: int = SECONDS,
) -> tuple[System, dict[int, float]]:
    system = make_system(
        providers=list(PROVIDERS),
        delivery={"flush_interval": FLUSH, "run_seconds": 20.0, "backoff_cap": 4.0},
        concurrency=2,
    )
    system.wait_worker_ready()
    tracked: dict[int, float] = {}
    events = RATE * seconds
    producer = threading.Thread(target=produce, args=(system, tracked, events))
    producer.start()
    fault()
    producer.join()
    for provider in PROVIDERS:
        wait_for(lambda p=provider: system.settled(p, events), 60, message=system.log())
    return system, tracked


def check(sandbox: SandboxServer, tracked: dict[int, float], name: str, skip: str = "") -> None:
    events = len(tracked)
    for provider in PROVIDERS:
        requests = len(sandbox.requests(provider))
        took = delays(sandbox, provider, tracked)
        print(
            f"{name} {provider}: {requests} requests, {events / requests:.1f} events/request, "
            f"p99 delay {p99(took):.2f}s, max {took[-1]:.2f}s"
        )
        if provider in CAPS:
            per_request = min(CAPS[provider], RATE * FLUSH)
            assert requests <= 1.5 * events / per_request, provider
        if provider != skip:
            assert p99(took) <= FLUSH + 3, provider


@pytest.mark.parametrize(
    "seconds", [pytest.param(12, id="12s"), pytest.param(SECONDS, id="60s", marks=pytest.mark.slow)]
)
def test_a_steady_stream_goes_out_in_full_requests_and_promptly(
    make_system: Callable[..., System], sandbox: SandboxServer, seconds: int
) -> None:
    """12 s in the default run; the whole minute with ``make test-slow``."""
    system, tracked = stream(make_system, sandbox, lambda: None, seconds=seconds)
    check(sandbox, tracked, "steady")
    assert all(system.counts(p)["dead"] == 0 for p in PROVIDERS)


@pytest.mark.parametrize(
    ("seconds", "start", "spell"),
    [pytest.param(14, 4, 6, id="14s"), pytest.param(40, 10, 15, id="40s", marks=pytest.mark.slow)],
)
def test_a_503_spell_on_one_provider_does_not_delay_the_others(
    make_system: Callable[..., System],
    sandbox: SandboxServer,
    seconds: int,
    start: float,
    spell: float,
) -> None:
    """Giosg answers 503 for a while in the middle of the stream: 6 s of 14 in the default
    run, 15 s of 40 with ``make test-slow``."""

    def fault() -> None:
        pause_until(time.monotonic() + start)
        sandbox.add_fault("giosg", 503, duration=spell)

    system, tracked = stream(make_system, sandbox, fault, seconds=seconds)
    check(sandbox, tracked, "503 spell on giosg", skip="giosg")
    assert system.counts("giosg")["delivered"] == len(tracked)
