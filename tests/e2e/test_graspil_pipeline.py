"""The walking skeleton end to end: track() → Redis → real Celery worker and beat → sandbox."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.errors import ValidationError
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import SandboxServer
from tracking_worker.settings import load_settings

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def purchases(count: int, *, first_user: int = 1000) -> list[dict[str, Any]]:
    return [
        {
            "name": "purchase",
            "telegram_id": first_user + i,
            "value": 9.99,
            "currency": "usd",
            "occurred_at": "2024-08-03T20:00:00.123+02:00",
        }
        for i in range(count)
    ]


def accepted_requests(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests("graspil") if r["outcome"] == "accepted"]


def test_250_events_arrive_once_in_three_requests_formatted_right(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"])
    system.tracker.track_many(purchases(250))
    wait_for(lambda: system.settled("graspil", 250), 30, message=system.log())
    received = sandbox.received("graspil")
    assert len(received) == 250
    assert sorted(item["user_id"] for item in received) == list(range(1000, 1250))
    sizes = sorted(len(r["body"]) for r in accepted_requests(sandbox))
    assert sizes == [50, 100, 100]
    assert len(sandbox.requests("graspil")) == 3
    for item in received:
        assert item["target_id"] == 12 and item["unit"] == "USD" and item["value"] == 9.99
        assert DATE.match(item["date"]) and item["date"] == "2024-08-03T18:00:00.123+00:00"
    headers = sandbox.requests("graspil")[0]["headers"]
    assert {k.lower(): v for k, v in headers.items()}["api-key"] == "sandbox-graspil-key"
    counts = system.counts("graspil")
    assert (counts["delivered"], counts["dead"], counts["requests"]) == (250, 0, 3)


def test_partial_batch_is_flushed_by_the_beat_tick(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"], delivery={"flush_interval": 1.0})
    system.tracker.track_many(purchases(1, first_user=1))  # warm-up: worker and beat are live
    wait_for(lambda: system.counts("graspil")["delivered"] == 1, 30, message=system.log())
    started = time.monotonic()
    system.tracker.track_many(purchases(7))
    wait_for(
        lambda: system.counts("graspil")["delivered"] == 8,
        1.0 + 2.0,
        message="7 events flushed within flush_interval + 2 s",
    )
    assert time.monotonic() - started < 3.0
    assert len(sandbox.received("graspil")) == 8


def test_three_503s_then_everything_delivered_once(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("graspil", 503, count=3)
    system = make_system(providers=["graspil"])
    system.tracker.track_many(purchases(150))
    wait_for(lambda: system.settled("graspil", 150), 30, message=system.log())
    statuses = [r["status"] for r in sandbox.requests("graspil")]
    assert statuses.count(503) == 3
    users = Counter(item["user_id"] for item in sandbox.received("graspil"))
    assert set(users) == set(range(1000, 1150)) and max(users.values()) == 1
    counts = system.counts("graspil")
    assert (counts["delivered"], counts["dead"]) == (150, 0)
    assert counts["retried"] >= 100  # the failed events went through the retry set


def test_one_bad_event_in_100_is_isolated_and_dead_lettered(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.reject_matching("graspil", "user_id", 1042)
    system = make_system(providers=["graspil"])
    system.tracker.track_many(purchases(100))
    wait_for(lambda: system.settled("graspil", 100), 30, message=system.log())
    received = {item["user_id"] for item in sandbox.received("graspil")}
    assert received == set(range(1000, 1100)) - {1042}
    counts = system.counts("graspil")
    assert (counts["delivered"], counts["dead"]) == (99, 1)
    [dead] = system.queue("graspil").dead_letters()
    assert "The user with this id was not found" in dead["reason"]
    assert dead["kind"] == "rejected" and '"telegram_id":1042' in dead["event"]
    assert "sandbox-graspil-key" not in str(dead)


def test_worker_killed_mid_send_loses_nothing(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.set_latency("graspil", 2.5)
    system = make_system(
        providers=["graspil"],
        delivery={"lease_seconds": 4.0},
        provider_overrides={"graspil": {"connect_timeout": 0.3, "read_timeout": 3.5}},
    )
    system.tracker.track_many(purchases(100))
    wait_for(
        lambda: system.counts("graspil")["leased_batches"] == 1,
        30,
        message="the batch is claimed and being sent",
    )
    assert system.worker is not None
    system.worker.kill()
    sandbox.set_latency("graspil", 0)
    assert system.counts("graspil")["delivered"] == 0
    system.start_worker()
    wait_for(lambda: system.settled("graspil", 100), 45, message=system.log())
    users = Counter(item["user_id"] for item in sandbox.received("graspil"))
    assert set(users) == set(range(1000, 1100))  # at-least-once: nobody lost
    assert max(users.values()) <= 2  # duplicates only from the batch in flight at the kill
    counts = system.counts("graspil")
    assert counts["delivered"] == 100 and counts["dead"] == 0 and counts["reaped"] == 1


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"telegram_id": -5}, "telegram_id"),
        ({"value": 10}, "currency"),
        ({"occurred_at": "2024-08-03T20:00:00"}, "occurred_at"),
        ({"email": "nope"}, "email"),
        ({"providers": ["graspil", "nosuch"]}, "providers"),
    ],
)
def test_bad_input_names_the_field_and_leaves_redis_untouched(
    redis_url: str, redis_client: redis.Redis, fields: dict[str, Any], named: str
) -> None:
    settings = load_settings(
        {
            "redis": {"url": redis_url},
            "providers": {"graspil": {"api_key": "k-123456", "targets": {"purchase": 1}}},
        },
        environ={},
    )
    tracker = Tracker(settings)
    with pytest.raises(ValidationError) as caught:
        tracker.track("purchase", **{"telegram_id": 1, **fields})
    assert named in caught.value.errors
    with pytest.raises(ValidationError) as caught_many:
        tracker.track_many(
            [
                {"name": "purchase", "telegram_id": 1},
                {"name": "purchase", "telegram_id": 2, **fields},
            ]
        )
    assert f"events.1.{named}" in caught_many.value.errors
    assert redis_client.dbsize() == 0
    tracker.close()
