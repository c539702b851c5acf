"""A provider that fails for a minute, or rate-limits: nothing lost, nothing hammered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.faults.accounting import account, report
from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

THRESHOLD, COOLDOWN = 5, 5.0


def purchases(first: int, count: int) -> list[dict[str, object]]:
    return [
        {"name": "purchase", "telegram_id": n, "value": 2.5, "currency": "EUR"}
        for n in range(first, first + count)
    ]


@pytest.mark.parametrize(
    "outage", [pytest.param(12.0, id="12s"), pytest.param(30.0, id="30s", marks=pytest.mark.slow)]
)
def test_a_503_outage_loses_nothing_and_the_breaker_spaces_requests(
    make_system: Callable[..., System], sandbox: SandboxServer, outage: float
) -> None:
    """12 s of 503s in the default run, 30 s with ``make test-slow``."""
    sandbox.add_fault("graspil", 503, duration=outage)
    outage_ends = time.time() + outage
    system = make_system(
        providers=["graspil"],
        delivery={
            "breaker_threshold": THRESHOLD,
            "breaker_cooldown": COOLDOWN,
            "breaker_cooldown_cap": 10.0,
            "max_attempts": 10,
        },
    )
    system.tracker.track_many(purchases(1, 200))
    wait_for(lambda: system.settled("graspil", 200), 110, interval=0.5, message=system.log())

    failed = [r["timestamp"] for r in sandbox.requests("graspil") if r["status"] == 503]
    assert failed and failed[-1] <= outage_ends + 0.5
    # After the first THRESHOLD failures the circuit is open: one probe per cooldown at most.
    gaps = [b - a for a, b in zip(failed[THRESHOLD - 1 :], failed[THRESHOLD:], strict=False)]
    assert gaps and min(gaps) >= COOLDOWN * 0.95, gaps
    assert len(failed) <= THRESHOLD + outage / COOLDOWN
    dead = [json.loads(d["event"])["telegram_id"] for d in system.queue("graspil").dead_letters()]
    ledger = account(range(1, 201), [i["user_id"] for i in sandbox.received("graspil")], dead)
    report(ledger, f"503 for {outage:.0f} s ({len(failed)} failed requests)")
    assert (ledger.lost, ledger.dead, ledger.duplicates, ledger.delivered) == (0, 0, 0, 200)


def test_each_half_open_probe_of_a_down_one_event_provider_is_one_request(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    """GramPixel (one event per request, several connections, two runs) down for 8 s: the
    round that opens the breaker may end with the requests already in flight, but every
    probe after a cooldown is one request, never a round's worth."""
    cooldown = 1.0
    sandbox.add_fault("grampixel", 503, duration=8)
    system = make_system(
        providers=["grampixel"],
        delivery={
            "breaker_threshold": 3,
            "breaker_cooldown": cooldown,
            "breaker_cooldown_cap": cooldown,
            "max_attempts": 50,
        },
    )
    system.tracker.track_many(
        [{"name": "purchase", "telegram_id": n, "ad_session_id": f"gp_{n}"} for n in range(1, 201)]
    )
    wait_for(lambda: system.settled("grampixel", 200), 60, interval=0.5, message=system.log())
    failed = sorted(r["timestamp"] for r in sandbox.requests("grampixel") if r["status"] == 503)
    rounds = [[failed[0]]]
    for at in failed[1:]:
        if at - rounds[-1][-1] > cooldown / 2:
            rounds.append([at])
        else:
            rounds[-1].append(at)
    assert len(rounds) >= 4, rounds
    assert [len(r) for r in rounds[1:]] == [1] * (len(rounds) - 1), [len(r) for r in rounds]
    assert system.counts("grampixel")["dead"] == 0


def test_429_retry_after_pauses_the_provider_then_all_delivered(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("tganalytics", 429, count=1, retry_after=5)
    system = make_system(providers=["tganalytics"])
    events = [
        {"name": "app-init", "telegram_id": n, "session_id": "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f"}
        for n in range(1, 61)
    ]
    system.tracker.track_many(events)
    wait_for(lambda: system.settled("tganalytics", 60), 40, message=system.log())
    records = sandbox.requests("tganalytics")
    limited = [r["timestamp"] for r in records if r["status"] == 429]
    assert len(limited) == 1
    after = [r["timestamp"] for r in records if r["timestamp"] > limited[0]]
    assert after and min(after) >= limited[0] + 5.0  # nothing inside the Retry-After window
    ledger = account(range(1, 61), [i["user_id"] for i in sandbox.received("tganalytics")], [])
    report(ledger, "429 Retry-After 5")
    assert (ledger.lost, ledger.duplicates, ledger.delivered) == (0, 0, 60)
    queue = system.queue("tganalytics")
    assert queue.counts()["dead"] == 0


def test_a_down_single_event_provider_gets_a_few_requests_not_a_claim_of_them(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("grampixel", 503, duration=120)
    system = make_system(
        providers=["grampixel"],
        delivery={"breaker_threshold": THRESHOLD, "breaker_cooldown": COOLDOWN},
        provider_overrides={"grampixel": {"max_connections": 4}},
        beat=False,
    )
    system.tracker.track_many([{"name": "signup", "telegram_id": n} for n in range(1, 33)])
    system.tracker.trigger("grampixel")  # one run on the full claim (32 = 8 x 4 connections)
    queue = system.queue("grampixel")
    wait_for(
        lambda: queue.client.hget(queue.keys.circuit, "state") == b"open", 20, message=system.log()
    )
    # The round stops once THRESHOLD requests failed in a row; at most the requests already
    # in flight on the other connections follow: not all 32.
    assert len(sandbox.requests("grampixel")) <= THRESHOLD + 4
    counts = system.counts("grampixel")
    assert counts["in_retry"] == 32 and counts["dead"] == 0


def test_retry_after_zero_is_no_tight_loop(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("graspil", 429, duration=3, retry_after=0)
    started = time.time()
    system = make_system(providers=["graspil"], delivery={"breaker_cooldown": 1.0})
    system.tracker.track_many(purchases(1, 5))
    wait_for(lambda: system.settled("graspil", 5), 30, message=system.log())
    limited = [r["timestamp"] for r in sandbox.requests("graspil") if r["status"] == 429]
    assert 1 <= len(limited) <= (time.time() - started) / 1.0 + 1  # one per cooldown at most
    assert sorted(i["user_id"] for i in sandbox.received("graspil")) == list(range(1, 6))
