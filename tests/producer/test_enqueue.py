"""The producer against a real Redis: backpressure, dedupe, routing, one round trip."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from tracking_worker.errors import TrackingUnavailable
from tracking_worker.keys import Keys
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import load_settings

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}


def tracker_for(url: str, **delivery: Any) -> Tracker:
    settings = load_settings(
        {"redis": {"url": url}, "delivery": delivery, "providers": {"graspil": GRASPIL}},
        environ={},
    )
    tracker = Tracker(settings)
    tracker.producer.trigger = lambda name: None  # no worker in these tests
    return tracker


def stats(client: redis.Redis) -> dict[bytes, bytes]:
    return client.hgetall(Keys("graspil").stats)


def test_over_max_pending_events_are_dropped_counted_and_warned_once(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = tracker_for(redis_url, max_pending=5)
    with caplog.at_level(logging.WARNING, "tracking_worker.producer"):
        for n in range(1, 9):
            tracker.track("purchase", telegram_id=n)
    assert redis_client.llen(Keys("graspil").pending) == 5
    assert stats(redis_client)[b"dropped"] == b"3"
    warnings = [r for r in caplog.records if "max_pending" in r.getMessage()]
    assert len(warnings) == 1  # at most once a minute


def test_a_caller_event_id_is_enqueued_once(redis_url: str, redis_client: redis.Redis) -> None:
    tracker = tracker_for(redis_url)
    assert tracker.track("purchase", telegram_id=1, event_id="order-7") == "order-7"
    assert tracker.track("purchase", telegram_id=1, event_id="order-7") == "order-7"
    tracker.track("purchase", telegram_id=1)
    tracker.track("purchase", telegram_id=1)
    assert redis_client.llen(Keys("graspil").pending) == 3
    assert stats(redis_client)[b"deduplicated"] == b"1"


def test_events_a_provider_cannot_take_are_counted_as_skipped(
    redis_url: str, redis_client: redis.Redis
) -> None:
    tracker = tracker_for(redis_url)
    tracker.track_many([{"name": "purchase"}, {"name": "signup", "telegram_id": 3}])
    assert redis_client.llen(Keys("graspil").pending) == 0
    assert stats(redis_client)[b"skipped"] == b"2"


def test_a_flushed_script_cache_is_reloaded_without_losing_or_doubling(
    redis_url: str, redis_client: redis.Redis
) -> None:
    tracker = tracker_for(redis_url)
    tracker.track("purchase", telegram_id=1)
    redis_client.script_flush()  # what a Redis restart does to loaded scripts
    tracker.track_many([{"name": "purchase", "telegram_id": 2}, {"name": "x", "telegram_id": 3}])
    assert redis_client.llen(Keys("graspil").pending) == 2
    assert stats(redis_client)[b"enqueued"] == b"2" and stats(redis_client)[b"skipped"] == b"1"


def raising_tracker_for(url: str) -> Tracker:
    settings = load_settings(
        {
            "redis": {"url": url},
            "producer": {"on_unavailable": "raise"},
            "providers": {"graspil": GRASPIL},
        },
        environ={},
    )
    return Tracker(settings)


def test_noscript_twice_in_a_row_is_tracking_unavailable(
    redis_url: str, redis_client: redis.Redis
) -> None:
    tracker = raising_tracker_for(redis_url)
    tracker.producer.intake.scripts.sha["enqueue"] = "0" * 40  # loading the scripts cannot help
    with pytest.raises(TrackingUnavailable, match="No matching script"):
        tracker.track("purchase", telegram_id=1)
    assert redis_client.llen(Keys("graspil").pending) == 0


def test_any_redis_error_is_tracking_unavailable(redis_url: str, redis_client: redis.Redis) -> None:
    tracker = raising_tracker_for(redis_url)
    redis_client.config_set("maxmemory", 1)  # every write now answers -OOM
    try:
        with pytest.raises(TrackingUnavailable, match="maxmemory"):
            tracker.track("purchase", telegram_id=1)
    finally:
        redis_client.config_set("maxmemory", 0)
