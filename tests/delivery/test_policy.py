"""What a round's results mean, from tables: no Redis, no HTTP, no clock."""

from __future__ import annotations

import json
import random

import pytest

from tracking_worker.delivery import policy
from tracking_worker.delivery.backoff import compute_backoff
from tracking_worker.events import Event
from tracking_worker.outcomes import (
    Configuration,
    Credentials,
    Delivered,
    MappingFailed,
    NotYet,
    Outcome,
    Reject,
    Retry,
)
from tracking_worker.settings import DeliverySettings
from tracking_worker.store.circuit import (
    CONFIGURATION,
    CREDENTIALS,
    FAILURE,
    NOTHING,
    REJECTED,
    SUCCESS,
    THROTTLE,
)

RULES = DeliverySettings(
    max_attempts=3,
    max_age=100.0,
    backoff_base=1.0,
    backoff_cap=8.0,
    breaker_cooldown=5.0,
    breaker_cooldown_cap=300.0,
)
NOW = 1_000.0
THROTTLED = Retry("429", 429, after=0.0, throttled=True)


def raw(event_id: str, *, queued_at: float = NOW - 1) -> str:
    return Event(
        event_id, "purchase", "2024-01-01T00:00:00.000+00:00", queued_at=queued_at
    ).to_json()


def mask(text: str) -> str:
    return text.replace("secret", "[redacted]")


@pytest.mark.parametrize(
    ("outcomes", "requests", "expected"),
    [
        ([Delivered()], 1, policy.Health(SUCCESS)),
        ([Retry("503", 503), Delivered()], 2, policy.Health(SUCCESS)),
        ([Retry("503", 503)] * 7, 7, policy.Health(FAILURE, 0.0, "503", 7)),
        ([Retry("503", 503, after=1e9)], 1, policy.Health(FAILURE, 300.0, "503", 1)),
        ([THROTTLED], 1, policy.Health(THROTTLE, 5.0, "429")),  # Retry-After: 0 → one cooldown
        ([Retry("429", 429, after=1e9, throttled=True)], 1, policy.Health(THROTTLE, 300.0, "429")),
        (
            [Delivered(), Credentials("key refused", 401)],
            2,
            policy.Health(CREDENTIALS, 0, "key refused"),
        ),
        ([Credentials("key", 401), THROTTLED], 2, policy.Health(CREDENTIALS, 0, "key")),
        ([Reject("bad", 400)], 1, policy.Health(REJECTED, reason="bad")),  # counts to a storm
        ([Reject("bad", 400), Reject("other", 400)], 2, policy.Health(SUCCESS)),
        ([Reject("bad", 400), Delivered()], 2, policy.Health(SUCCESS)),
        (
            [Configuration("goal not found", "goals", 404, per_route=True, route="buy")],
            1,
            policy.Health(SUCCESS),  # a route's setting is that route's pause, not the provider's
        ),
        (
            [Delivered(), Configuration("no rooms", "rooms", 404)],
            2,
            policy.Health(CONFIGURATION, reason="no rooms", setting="rooms"),
        ),
        ([NotYet("no user", 400)], 1, policy.Health(SUCCESS)),  # the provider answers fine
        ([NotYet("no user", 400)] * 3, 3, policy.Health(SUCCESS)),  # no reject storm either
        ([Retry("503", 503), NotYet("no user", 400)], 2, policy.Health(SUCCESS)),
        ([MappingFailed("boom")], 0, policy.Health(NOTHING)),  # nothing sent: nothing said
        ([Retry("send failed")], 0, policy.Health(NOTHING)),
        ([], 0, policy.Health(NOTHING)),
    ],
)
def test_round_health(outcomes: list[Outcome], requests: int, expected: policy.Health) -> None:
    assert policy.round_health(outcomes, requests=requests, delivery=RULES) == expected


@pytest.mark.parametrize(
    ("item", "attempts", "dead_kind", "reason_starts"),
    [
        (raw("fresh"), 0, None, None),
        (raw("old", queued_at=NOW - 101), 0, "expired", "expired: older than max_age (100s)"),
        (raw("tried"), 3, "expired", "expired: 3 attempts used"),
        ("not json", 0, "malformed", "malformed:"),
        ('{"event_id": "x"}', 0, "malformed", "malformed:"),  # a field missing
        ("[1, 2]", 0, "malformed", "malformed:"),
    ],
)
def test_screen(item: str, attempts: int, dead_kind: str | None, reason_starts: str | None) -> None:
    screened = policy.screen([item], attempts=attempts, last_error="", now=NOW, delivery=RULES)
    if dead_kind is None:
        assert [r for r, _ in screened.live] == [item] and screened.dead == []
        return
    assert screened.live == [] and [d.kind for d in screened.dead] == [dead_kind]
    assert screened.dead[0].reason.startswith(reason_starts or "")


def test_screen_keeps_the_last_error_in_the_reason() -> None:
    old = raw("old", queued_at=0.0)
    screened = policy.screen([old], attempts=1, last_error="503 upstream", now=NOW, delivery=RULES)
    assert screened.dead[0].reason.endswith("; last error: 503 upstream")


def settle(results: list[tuple[str, Outcome]], *, attempts: int = 0, open_until: float = 0.0):  # type: ignore[no-untyped-def]
    return policy.settle_round(
        results,
        attempts=attempts,
        open_until=open_until,
        delivery=RULES,
        redact=mask,
        rand=random.Random(7),
    )


@pytest.mark.parametrize(
    ("outcome", "delivered", "retried", "dead_kind", "counted"),
    [
        (Delivered(), 1, 0, None, True),
        (Reject("secret refused", 400, "body secret"), 0, 0, "rejected", True),
        (MappingFailed("mapping failed"), 0, 0, "mapping", True),
        (Retry("503", 503), 0, 1, None, True),
        (THROTTLED, 0, 1, None, False),  # a rate limit uses up no attempt
        (Credentials("key refused", 401), 0, 1, None, False),  # the events are not at fault
    ],
)
def test_settle_round_routes_each_outcome(
    outcome: Outcome, delivered: int, retried: int, dead_kind: str | None, counted: bool
) -> None:
    s = settle([("e", outcome)])
    assert (s.delivered, len(s.retry)) == (delivered, retried)
    assert [d.kind for d in s.dead] == ([dead_kind] if dead_kind else [])
    if retried:
        assert s.count_attempt is counted
    for dead in s.dead:
        assert "secret" not in dead.reason + dead.excerpt  # redacted on the way to the store


def test_a_counted_retry_is_due_within_the_backoff_ceiling() -> None:
    for attempts, ceiling in ((0, 1.0), (1, 2.0), (2, 4.0)):
        rules = DeliverySettings(max_attempts=10, backoff_base=1.0, backoff_cap=8.0)
        s = policy.settle_round(
            [("e", Retry("503", 503))],
            attempts=attempts,
            open_until=0.0,
            delivery=rules,
            redact=mask,
            rand=random.Random(attempts),
        )
        assert 0 <= s.retry_delay <= ceiling


def test_retry_waits_for_the_provider_and_for_the_circuit() -> None:
    asked = settle([("e", Retry("503", 503, after=50.0))])
    assert asked.retry_delay >= 50.0
    paused = settle([("e", Retry("503", 503))], open_until=NOW + 120.0)
    assert paused.not_before == NOW + 120.0
    throttled = settle([("e", THROTTLED)])
    assert throttled.retry_delay == 0  # the circuit's pause alone holds it back


def test_events_never_sent_use_up_no_attempt_and_say_nothing() -> None:
    unsent = Retry("not sent: lease ran out", sent=False)
    s = settle([("e", unsent)], attempts=2)
    assert s.retry == ["e"] and s.count_attempt is False and s.retry_delay == 0
    health = policy.round_health([Delivered(), unsent], requests=1, delivery=RULES)
    assert health == policy.Health(SUCCESS)
    assert policy.round_health([unsent], requests=0, delivery=RULES).kind == NOTHING


def test_the_last_attempt_dead_letters_with_the_last_error() -> None:
    s = settle([("e", Retry("503 secret", 503))], attempts=2)
    assert s.retry == [] and [d.kind for d in s.dead] == ["expired"]
    assert s.dead[0].reason == "expired: 3 attempts used; last error: 503 [redacted]"
    assert s.dead[0].status == 503


def test_a_throttle_never_uses_up_the_last_attempt() -> None:
    s = settle([("e", THROTTLED)], attempts=2)
    assert s.retry == ["e"] and s.dead == []


def test_settle_keeps_every_event_exactly_once() -> None:
    outcomes: list[Outcome] = [Delivered(), Reject("r"), Retry("503", 503), MappingFailed("m")]
    results = [(json.dumps(n), o) for n, o in enumerate(outcomes * 5)]
    s = settle(results)
    assert s.delivered + len(s.retry) + len(s.dead) == len(results)


@pytest.mark.parametrize(
    ("width", "healthy", "latency", "cpu", "expected"),
    [
        (4, False, 0.05, 0.002, 1),  # any failure: one batch at a time
        (1, True, 0.2, 0.002, 2),  # a slow provider: doubling...
        (8, True, 0.2, 0.002, 16),  # ...up to every connection
        (16, True, 0.2, 0.002, 16),
        (16, True, 0.001, 0.002, 2),  # answers at once: our own CPU is the limit
        (2, True, 0.0005, 0.003, 2),  # never below two while healthy
        (1, True, 0.0005, 0.003, 2),
        (4, True, 0.005, 0.002, 4),  # 5 ms hides 2.5 batches of work: 1 + 3
        (16, True, 0.005, 0.002, 4),
        (2, True, None, 0.002, 4),  # nothing sent: no latency to bound it
        (4, True, 0.05, 0.0, 8),  # no CPU measured: no bound either
    ],
)
def test_next_width_hides_the_latency_and_no_more(
    width: int, healthy: bool, latency: float | None, cpu: float, expected: int
) -> None:
    assert policy.next_width(width, healthy=healthy, latency=latency, cpu=cpu, most=16) == expected


NOT_YET = NotYet("VibeTrace: User not found: secret must exist", 400, "body secret")
#: The default schedule (30, 120, 300, 600 s) under a backoff far longer than any of it.
SCHEDULE = DeliverySettings(max_attempts=10, backoff_base=1000.0, backoff_cap=5000.0)


def settle_not_yet(results: list[tuple[str, Outcome]], attempts: int):  # type: ignore[no-untyped-def]
    return policy.settle_round(
        results,
        attempts=attempts,
        open_until=0.0,
        delivery=SCHEDULE,
        redact=mask,
        rand=random.Random(7),
    )


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 30.0), (1, 120.0), (2, 300.0), (3, 600.0)],
)
def test_not_yet_retries_on_its_schedule_not_the_backoff(attempts: int, delay: float) -> None:
    s = settle_not_yet([("a", NOT_YET), ("b", NOT_YET)], attempts)
    assert (s.retry, s.dead, s.retry_delay) == (["a", "b"], [], delay)
    assert s.count_attempt is True  # the next round reads the next delay
    assert s.last_error.startswith("VibeTrace: User not found")


def test_not_yet_after_the_schedule_is_dead_with_the_providers_words() -> None:
    s = settle_not_yet([("a", NOT_YET)], 4)
    assert s.retry == []
    (dead,) = s.dead
    assert dead.kind == "not_yet" and dead.status == 400
    assert dead.reason == "VibeTrace: User not found: [redacted] must exist (not yet after 5 tries)"
    assert "secret" not in dead.excerpt


def test_an_empty_schedule_makes_not_yet_dead_at_once() -> None:
    rules = DeliverySettings(not_yet_delays=())
    s = policy.settle_round(
        [("a", NOT_YET)],
        attempts=0,
        open_until=0.0,
        delivery=rules,
        redact=mask,
        rand=random.Random(7),
    )
    assert [d.reason.endswith("(not yet after 1 try)") for d in s.dead] == [True]


def backoff(attempts: int) -> float:
    return compute_backoff(attempts, base=1000.0, cap=5000.0, rand=random.Random(7))


@pytest.mark.parametrize(
    ("results", "attempts", "retried", "dead", "delay"),
    [
        # with a delivery: only the not-yet event waits, its schedule's delay
        ([("d", Delivered()), ("n", NOT_YET)], 0, ["n"], [], 30.0),
        # with a counted failure: the shorter of the not-yet delay and the backoff
        ([("n", NOT_YET), ("f", Retry("503", 503))], 1, ["n", "f"], [], min(120.0, backoff(1))),
        # with a throttle: never before the provider's own wait
        (
            [("n", NOT_YET), ("t", Retry("429", 429, after=200.0, throttled=True))],
            0,
            ["n", "t"],
            [],
            200.0,
        ),
        # past its schedule the not-yet event is dead; the failure still retries on the backoff
        ([("n", NOT_YET), ("f", Retry("503", 503))], 4, ["f"], ["not_yet"], backoff(4)),
    ],
)
def test_a_mixed_round_of_not_yet_and_other_retries(
    results: list[tuple[str, Outcome]],
    attempts: int,
    retried: list[str],
    dead: list[str],
    delay: float,
) -> None:
    s = settle_not_yet(results, attempts)
    assert s.retry == retried
    assert [d.kind for d in s.dead] == dead
    assert s.retry_delay == pytest.approx(delay)
