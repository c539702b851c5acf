"""Every provider through Redis, a real Celery worker and the sandbox: delivered, retried then
delivered, rejected to the dead letters with the provider's message, refused credentials pausing
the provider with its events kept."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

ALL = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")


@dataclass(frozen=True)
class Case:
    provider: str
    identity: Callable[[dict[str, Any]], Any]  # which user a received item is about
    reject_field: str
    reject_value: Callable[[int], Any]
    reason: str  # what the dead letter's reason must quote from the provider
    key_setting: str
    kind: str = "rejected"  # the dead letter's: giosg's and VibeTrace's refusals are "not yet"


CASES = [
    Case(
        "graspil",
        lambda i: i["user_id"],
        "user_id",
        lambda n: n,
        "The user with this id was not found",
        "api_key",
    ),
    Case(
        "tganalytics",
        lambda i: i["user_id"],
        "user_id",
        lambda n: n,
        "VALIDATION_MISMATCH_REPORT",
        "token",
    ),
    Case(
        "grampixel",
        lambda i: i["telegram_id"],
        "telegram_id",
        lambda n: n,
        "telegram_id was rejected",
        "api_key",
    ),
    Case(
        "giosg",
        lambda i: int(i["visitor_identity"].split("-")[1]),
        "visitor_identity",
        lambda n: f"visitor-{n}",
        "no_visitor_session",
        "token",
        "not_yet",
    ),
    Case(
        "vibetrace",
        lambda i: int(i["user"]["email"][4:].split("@")[0]),
        "user.email",
        lambda n: f"user{n}@example.test",
        "User not found",
        "api_key",
        "not_yet",
    ),
]


def event(n: int, **extra: Any) -> dict[str, Any]:
    """A purchase every provider can take: all identities, value, order id."""
    return {
        "name": "purchase",
        "telegram_id": n,
        "email": f"user{n}@example.test",
        "visitor_id": f"visitor-{n}",
        "session_id": str(uuid.uuid4()),
        "value": 25.5,
        "currency": "EUR",
        "order_id": f"order-{n}",
        "properties": {"plan": "pro"},
        **extra,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_provider_lifecycle(
    case: Case, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    p = case.provider
    sandbox.add_fault(p, 503, count=2)
    sandbox.reject_matching(p, case.reject_field, case.reject_value(107))
    system = make_system(providers=[p], delivery={"not_yet_delays": [0.2]})
    system.tracker.track_many([event(n) for n in range(100, 110)])
    wait_for(lambda: system.settled(p, 10), 30, message=system.log())

    received = [case.identity(item) for item in sandbox.received(p)]
    assert sorted(received) == [n for n in range(100, 110) if n != 107]  # each exactly once
    assert [r["status"] for r in sandbox.requests(p)].count(503) == 2
    counts = system.counts(p)
    assert (counts["delivered"], counts["dead"], counts["skipped"]) == (9, 1, 0)
    [dead] = system.queue(p).dead_letters()
    assert case.reason in dead["reason"] and dead["kind"] == case.kind
    assert '"telegram_id":107' in dead["event"]
    secret = sandbox.credentials(p)[case.key_setting]
    assert secret not in str(dead)

    sandbox.set_credentials(p, **{case.key_setting: "rotated-" + secret})
    system.tracker.track_many([event(n) for n in range(200, 205)])
    wait_for(
        lambda: system.counts(p)["in_retry"] == 5,
        30,
        message="refused credentials keep the events queued",
    )
    circuit = system.queue(p).client.hgetall(system.queue(p).keys.circuit)
    assert circuit[b"state"] == b"open"
    counts = system.counts(p)
    assert (counts["delivered"], counts["dead"]) == (9, 1)  # nothing burned or lost
    queue = system.queue(p)
    [batch_id] = queue.client.zrange(queue.keys.retry, 0, -1)
    assert queue.client.hget(queue.keys.batch(batch_id.decode()), "attempts") == b"0"
    assert float(circuit[b"open_until"]) > float(circuit[b"updated"]) + 500  # long cooldown


def test_one_call_fans_out_to_all_five_exactly_once(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system()
    event_id = system.tracker.track(**event(42))
    wait_for(lambda: all(system.counts(p)["delivered"] == 1 for p in ALL), 30, message=system.log())
    for case in CASES:
        assert [case.identity(i) for i in sandbox.received(case.provider)] == [42]
    assert len(event_id) == 36


def test_a_provider_that_is_down_does_not_delay_the_others(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("graspil", 503, duration=60)
    sandbox.set_latency("graspil", 1.0)
    system = make_system()
    system.tracker.track_many([event(n) for n in range(1, 21)])
    others = [p for p in ALL if p != "graspil"]
    wait_for(
        lambda: all(system.counts(p)["delivered"] == 20 for p in others), 15, message=system.log()
    )
    graspil = system.counts("graspil")
    assert graspil["delivered"] == 0 and graspil["dead"] == 0
    assert graspil["in_retry"] + graspil["pending"] + graspil["leased_batches"] * 20 >= 20


def test_a_slow_provider_does_not_starve_the_others(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    # Slow but healthy: the breaker never opens, so only run isolation keeps slots free.
    sandbox.set_latency("vibetrace", 2.0)
    system = make_system(
        providers=["vibetrace", "grampixel"],
        provider_overrides={"vibetrace": {"max_connections": 1, "read_timeout": 5.0}},
    )
    system.tracker.track_many([event(n) for n in range(1, 41)])
    system.wait_worker_ready()
    wait_for(lambda: system.counts("vibetrace")["leased_batches"] > 0, 10)
    wait_for(lambda: system.settled("grampixel", 40), 8, message=system.log())
    assert system.counts("vibetrace")["delivered"] < 40  # still working through its backlog
