"""The package-level API a web app uses: configure(), track(), track_many()."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

import tracking_worker
from tracking_worker.keys import Keys

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}


def test_configure_then_track_and_track_many(redis_url: str, redis_client: redis.Redis) -> None:
    tracker = tracking_worker.configure(
        redis={"url": redis_url}, providers={"graspil": GRASPIL}, delivery={"max_pending": 50}
    )
    tracker.trigger = lambda name: None  # no worker here: only the enqueue is checked
    assert tracking_worker.get_tracker() is tracker
    event_id = tracking_worker.track("purchase", telegram_id=5, value=3, currency="eur")
    ids = tracking_worker.track_many([{"name": "purchase", "telegram_id": n} for n in (6, 7)])
    assert len(event_id) == 36 and len(set(ids)) == 2
    pending = [
        tracking_worker.Event.from_json(raw)
        for raw in redis_client.lrange(Keys("graspil").pending, 0, -1)
    ]
    assert [e.event_id for e in pending] == [event_id, *ids]
    assert pending[0].currency == "EUR" and pending[0].value == 3.0


def test_configure_again_replaces_the_tracker(redis_url: str) -> None:
    first = tracking_worker.configure(redis={"url": redis_url})
    second = tracking_worker.configure(redis={"url": redis_url}, providers={"graspil": GRASPIL})
    assert tracking_worker.get_tracker() is second and second is not first
    assert list(second.settings.providers) == ["graspil"]


def test_every_error_derives_from_one_root() -> None:
    for error in (
        tracking_worker.ValidationError,
        tracking_worker.PersonError,
        tracking_worker.ConfigurationError,
        tracking_worker.TrackingUnavailable,
        tracking_worker.PartlyEnqueued,
    ):
        assert issubclass(error, tracking_worker.TrackingError)


def test_a_lookup_picks_the_tracker_for_the_code_running_now(redis_url: str) -> None:
    """What the Flask integration registers: its answer wins; None leaves the default."""
    default = tracking_worker.configure(redis={"url": redis_url})
    own = tracking_worker.Tracker(default.settings)
    answer: list[tracking_worker.Tracker | None] = [own]
    previous = tracking_worker.set_lookup(lambda: answer[0])
    try:
        assert tracking_worker.get_tracker() is own
        answer[0] = None
        assert tracking_worker.get_tracker() is default
    finally:
        tracking_worker.set_lookup(previous)
        own.close()


def test_forget_removes_a_person_s_events_with_the_tracker_s_settings(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    tracker = tracking_worker.configure(
        redis={"url": redis_url},
        producer={"spool_dir": str(tmp_path)},
        providers={"graspil": GRASPIL},
    )
    tracker.trigger = lambda name: None
    tracking_worker.track_many([{"name": "purchase", "telegram_id": n} for n in (5, 6, 5)])
    report = tracking_worker.forget(telegram_id=5)
    assert report.providers["graspil"].pending == 2 and report.removed == 2
    left = [
        tracking_worker.Event.from_json(r)
        for r in redis_client.lrange(Keys("graspil").pending, 0, -1)
    ]
    assert [e.telegram_id for e in left] == [6]
    with pytest.raises(tracking_worker.PersonError, match="at least one"):
        tracking_worker.forget()
