"""Suppression at the door: a suppressed person's events are dropped by the enqueue itself
(track, track_many, atrack, spool drains), counted, and nobody else's are touched."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from tracking_worker import suppress, suppressions, unsuppress
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.people import member, shown
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.providers import REGISTRY
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store.status import collect

PROVIDERS = ("graspil", "grampixel")
OPTED_OUT = 4242


def settings_for(url: str, spool: Path) -> Settings:
    every = provider_settings("http://127.0.0.1:9")  # no worker: events stay pending
    return load_settings(
        {
            "redis": {"url": url},
            "producer": {"spool_dir": str(spool)},
            "providers": {name: every[name] for name in PROVIDERS},
        },
        environ={},
    )


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return settings_for(redis_url, tmp_path / "spool")


@pytest.fixture
def tracker(settings: Settings) -> Any:
    made = Tracker(settings)
    made.trigger = lambda name: None
    yield made
    made.close()


def purchase(telegram_id: int, **extra: Any) -> dict[str, Any]:
    return {"name": "purchase", "telegram_id": telegram_id, "value": 5, "currency": "EUR", **extra}


def pending(client: redis.Redis, provider: str) -> list[int | None]:
    raws = client.lrange(Keys(provider).pending, 0, -1)
    return [Event.from_json(raw).telegram_id for raw in raws]


def suppressed_counts(settings: Settings, client: redis.Redis) -> dict[str, int]:
    return {name: s.suppressed for name, s in collect(settings, client).providers.items()}


def test_a_suppressed_person_s_event_is_not_enqueued_and_is_counted(
    tracker: Tracker, settings: Settings, redis_client: redis.Redis
) -> None:
    suppress(telegram_id=OPTED_OUT, settings=settings)
    event_id = tracker.track(**purchase(OPTED_OUT))
    kept = tracker.track(**purchase(7))
    assert event_id and kept != event_id  # track() answers as for any event
    for provider in PROVIDERS:
        assert pending(redis_client, provider) == [7]
    assert suppressed_counts(settings, redis_client) == {p: 1 for p in PROVIDERS}
    counts = tracker.intake.trips.client.hgetall(Keys("graspil").stats)
    assert int(counts[b"enqueued"]) == 1 and int(counts[b"suppressed"]) == 1
    [listed] = suppressions(settings)
    assert listed.member == shown(member("telegram_id", str(OPTED_OUT))) and listed.dropped == 2


def test_track_many_drops_only_the_suppressed_person_and_says_which(
    tracker: Tracker, settings: Settings, redis_client: redis.Redis
) -> None:
    suppress(email=" Opted.Out@Example.com ", settings=settings)
    valid = tracker.producer.validate(
        [
            purchase(1),
            purchase(2, email="opted.out@example.com"),
            purchase(3, email="someone@example.com"),
            purchase(4, email="OPTED.OUT@example.com"),
        ]
    )
    applied = tracker.enqueue_now(valid)
    dropped = {valid[1].event.event_id, valid[3].event.event_id}
    assert applied.suppressed_ids == dropped
    assert applied.suppressed == {p: 2 for p in PROVIDERS}
    for provider in PROVIDERS:
        assert pending(redis_client, provider) == [1, 3]


def test_unsuppressing_lets_the_next_events_through(
    tracker: Tracker, settings: Settings, redis_client: redis.Redis
) -> None:
    suppress(telegram_id=OPTED_OUT, user_id="u-9", settings=settings)
    tracker.track(**purchase(OPTED_OUT))
    change = unsuppress(telegram_id=OPTED_OUT, settings=settings)
    assert change.changed == {name: 1 for name in change.changed}
    tracker.track(**purchase(OPTED_OUT))
    assert pending(redis_client, "graspil") == [OPTED_OUT]
    # The other identifier given at first still suppresses its events.
    tracker.track(**purchase(8, user_id="u-9"))
    assert pending(redis_client, "graspil") == [OPTED_OUT]


def test_suppress_and_unsuppress_are_idempotent_and_reach_every_provider_s_list(
    settings: Settings, redis_client: redis.Redis
) -> None:
    first = suppress(telegram_id=OPTED_OUT, email="a@example.com", settings=settings)
    assert set(first.changed) == set(REGISTRY)  # configured or not: one enabled later has it
    assert set(first.changed.values()) == {2}
    again = suppress(telegram_id=OPTED_OUT, settings=settings)
    assert set(again.changed.values()) == {0}
    for name in REGISTRY:
        stored = redis_client.hkeys(Keys(name).suppressed)
        assert sorted(shown(m) for m in stored) == sorted(first.members)
    assert set(unsuppress(email="A@example.com", settings=settings).changed.values()) == {1}
    assert set(unsuppress(email="a@example.com", settings=settings).changed.values()) == {0}
    [left] = suppressions(settings)
    assert left.kind == "telegram_id" and set(left.providers) == set(REGISTRY)
    assert "a@example.com" not in repr(suppressions(settings)) and str(OPTED_OUT) not in left.hash


def test_atrack_drops_a_suppressed_person_s_event_too(
    settings: Settings, tracker: Tracker, redis_client: redis.Redis
) -> None:
    suppress(visitor_id="visitor-1", settings=settings)

    async def run() -> None:
        async with AsyncTracker(tracker=tracker) as tracked:
            await tracked.track("purchase", telegram_id=11, visitor_id="visitor-1")
            await tracked.track("purchase", telegram_id=12, visitor_id="visitor-2")

    asyncio.run(run())
    assert pending(redis_client, "graspil") == [12]
    assert suppressed_counts(settings, redis_client) == {p: 1 for p in PROVIDERS}


def test_a_spool_drain_drops_suppressed_people_s_events(
    tracker: Tracker, settings: Settings, redis_client: redis.Redis
) -> None:
    """Events spooled while Redis was down, for someone who opted out meanwhile."""
    tracker.spool.append(tracker.producer.validate([purchase(OPTED_OUT), purchase(5)]))
    suppress(telegram_id=OPTED_OUT, settings=settings)
    assert tracker.drain_spool() == 2
    assert pending(redis_client, "graspil") == [5] and tracker.spool.count() == 0
    assert suppressed_counts(settings, redis_client) == {p: 1 for p in PROVIDERS}


def test_an_empty_list_leaves_the_enqueue_as_it_was(
    tracker: Tracker, settings: Settings, redis_client: redis.Redis
) -> None:
    suppress(telegram_id=OPTED_OUT, settings=settings)
    unsuppress(telegram_id=OPTED_OUT, settings=settings)
    assert not redis_client.exists(Keys("graspil").suppressed)  # an empty hash is no key
    tracker.track(**purchase(OPTED_OUT))
    assert pending(redis_client, "graspil") == [OPTED_OUT]
    assert suppressed_counts(settings, redis_client) == {p: 0 for p in PROVIDERS}
