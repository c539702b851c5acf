"""The producer against a real Redis: backpressure, dedupe, routing, one round trip."""

from __future__ import annotations

import gc
import logging
import random
from typing import Any

import pytest
import redis

from tracking_worker.devtools import demo_event
from tracking_worker.errors import PartlyEnqueued, TrackingUnavailable, ValidationError
from tracking_worker.keys import Keys
from tracking_worker.producer.enqueue import PAUSE_COLLECTOR_AT
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}


def tracker_for(url: str, **delivery: Any) -> Tracker:
    settings = load_settings(
        {"redis": {"url": url}, "delivery": delivery, "providers": {"graspil": GRASPIL}},
        environ={},
    )
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None  # no worker in these tests
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
    again = tracker.producer.validate(
        [{"name": "purchase", "telegram_id": 1, "event_id": "order-7"}] * 2
    )
    assert tracker.enqueue_now(again).deduplicated == {"graspil": 2}  # each answer says so


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
    tracker.intake.scripts.sha["enqueue"] = "0" * 40  # loading the scripts cannot help
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


def test_one_provider_failing_spools_only_its_part(
    redis_url: str, redis_client: redis.Redis, tmp_path: Any
) -> None:
    """MULTI/EXEC does not roll back: the providers that got the event must not get it twice
    when the failed provider's part is spooled and drained."""
    everyone = provider_settings("http://127.0.0.1:9")
    settings = load_settings(
        {
            "redis": {"url": redis_url},
            "producer": {"spool_dir": str(tmp_path / "spool")},
            "providers": everyone,
        },
        environ={},
    )
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None
    redis_client.set(Keys("giosg").pending, "not a list")  # WRONGTYPE for giosg alone
    event = demo_event(random.Random(1)) | {"name": "purchase", "telegram_id": 5}
    tracker.track(**event | {"value": 9.5, "currency": "USD", "order_id": "A-1"})
    lengths = {name: redis_client.llen(Keys(name).pending) for name in everyone if name != "giosg"}
    assert lengths == {name: 1 for name in lengths}
    assert tracker.outage.spooled == 1 and tracker.spool.count() == 1
    redis_client.delete(Keys("giosg").pending)
    assert tracker.drain_spool() == 1
    assert redis_client.llen(Keys("giosg").pending) == 1
    assert all(redis_client.llen(Keys(name).pending) == 1 for name in lengths)  # not twice


def test_a_raising_tracker_says_who_has_the_event_and_spools_nothing(
    redis_url: str, redis_client: redis.Redis, tmp_path: Any
) -> None:
    """on_unavailable = "raise": the failed part is not spooled, so nothing may say it is; the
    exception names who has the event, and calling again with its id adds it only where it is
    missing."""
    everyone = provider_settings("http://127.0.0.1:9")
    settings = load_settings(
        {
            "redis": {"url": redis_url},
            "producer": {"spool_dir": str(tmp_path / "spool"), "on_unavailable": "raise"},
            "providers": {name: everyone[name] for name in ("graspil", "grampixel")},
        },
        environ={},
    )
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None
    redis_client.set(Keys("grampixel").pending, "not a list")
    with pytest.raises(PartlyEnqueued) as raised:
        tracker.track("purchase", telegram_id=5, value=9.5, currency="USD")
    assert (raised.value.enqueued, raised.value.failed) == (["graspil"], ["grampixel"])
    assert tracker.spool.count() == 0 and tracker.outage.spooled == 0
    redis_client.delete(Keys("grampixel").pending)
    [event_id] = raised.value.event_ids
    tracker.track("purchase", telegram_id=5, value=9.5, currency="USD", event_id=event_id)
    assert [redis_client.llen(Keys(p).pending) for p in ("graspil", "grampixel")] == [1, 1]


@pytest.mark.parametrize(
    ("events", "field"),
    [
        (["purchase"], "events.0"),
        ([{"name": "purchase", "telegram_id": 1}, None], "events.1"),
        ({"name": "purchase"}, "events"),
        ("purchase", "events"),
    ],
)
def test_track_many_names_what_is_not_an_event(
    redis_url: str, redis_client: redis.Redis, events: Any, field: str
) -> None:
    tracker = tracker_for(redis_url)
    with pytest.raises(ValidationError) as caught:
        tracker.track_many(events)
    assert field in caught.value.errors
    assert redis_client.llen(Keys("graspil").pending) == 0


def test_a_large_batch_validates_with_the_cyclic_collector_paused(redis_url: str) -> None:
    producer = tracker_for(redis_url).producer
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    batch = [
        {"name": "purchase", "telegram_id": n + 1, "properties": {"n": n}} for n in range(5000)
    ]
    small = batch[: PAUSE_COLLECTOR_AT - 1]
    gc.callbacks.append(count)
    try:
        assert len(producer.validate(small)) == len(small)  # a small one: not paused
        assert collections
        collections.clear()
        assert len(producer.validate(batch)) == 5000
        # At most the one that follows at once when the collector is back (unpaused: about 35)
        assert len(collections) <= 1 and gc.isenabled()
        gc.disable()  # a process that runs without the collector keeps it off
        producer.validate(batch)
        assert not gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        gc.enable()
