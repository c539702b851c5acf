"""``capture()`` and the ``tracked`` fixture: every track(), track_many() and atrack() taken
in-process with no Redis, in call order, each event with each provider's request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

import tracking_worker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.redact import MASK
from tracking_worker.settings import build_settings
from tracking_worker.testing import Tracked, capture

KEY = "graspil-key-for-tests-9f2c"
#: Graspil with a key of ours, on a Redis nothing listens on, refusing to spool: a capture that
#: made a round trip would raise TrackingUnavailable.
NO_REDIS = {
    "redis": {"url": "redis://127.0.0.1:9/0"},
    "producer": {"on_unavailable": "raise"},
    "providers": {"graspil": {"api_key": KEY, "targets": {"purchase": 12, "registration": 3}}},
}


def test_every_call_is_captured_in_order_with_its_requests_and_no_redis() -> None:
    with capture(NO_REDIS) as tracked:
        first = tracking_worker.track("purchase", telegram_id=5, value=9.99, currency="usd")
        many = tracking_worker.track_many(
            [{"name": "registration", "telegram_id": 6}, {"name": "signup", "telegram_id": 7}]
        )
        last = asyncio.run(tracking_worker.atrack("purchase", telegram_id=8))
    assert tracked.names == ["purchase", "registration", "signup", "purchase"]
    assert [c.event_id for c in tracked] == [first, *many, last]
    purchase = tracked[0]
    assert purchase.event["currency"] == "USD" and purchase.event["event_id"] == first
    assert purchase.event["occurred_at"].endswith("+00:00")
    request = purchase.requests["graspil"]
    assert (request.method, request.url) == ("POST", "https://api.graspil.com/v1/send-target")
    assert request.headers == {"Api-Key": MASK, "Content-Type": "application/json"}
    assert request.json[0] | {"date": "-"} == {
        "target_id": 12,
        "user_id": 5,
        "date": "-",
        "value": 9.99,
        "unit": "USD",
    }
    assert tracked[2].requests == {}
    assert tracked[2].skipped == {"graspil": "no target_id configured for this event name"}
    shown = repr(list(tracked)) + json.dumps([r.as_dict() for r in tracked.for_provider("graspil")])
    assert KEY not in shown


def test_a_validation_error_still_raises_and_nothing_is_captured(tracked: Tracked) -> None:
    with pytest.raises(tracking_worker.ValidationError) as raised:
        tracking_worker.track("purchase", telegram_id=5, value=3, currency="usdollar")
    with pytest.raises(tracking_worker.ValidationError):
        tracking_worker.track_many([{"name": "ok", "telegram_id": 1}, {"name": ""}])
    assert list(raised.value.errors) == ["currency"]
    assert len(tracked) == 0


def test_with_no_provider_configured_the_dummy_configuration_renders_all_five(
    tracked: Tracked,
) -> None:
    tracking_worker.track(
        "purchase", telegram_id=5, email="ann@example.com", visitor_id="v-5", order_id="A-1"
    )
    tracking_worker.track("registration", telegram_id=5, providers=["grampixel"])
    assert set(tracked[0].requests) == {"graspil", "grampixel", "giosg", "vibetrace"}
    assert set(tracked[0].skipped) == {"tganalytics"}
    assert tracked[0].requests["vibetrace"].url == "https://api.vtcdn.net/v1/event/"
    assert list(tracked[1].requests) == ["grampixel"] and tracked[1].providers == ("grampixel",)
    assert [r.json["event_name"] for r in tracked.for_provider("grampixel")] == ["Purchase", "REG"]


def test_the_settings_in_use_decide_the_providers_and_their_tracker_stays() -> None:
    configured = tracking_worker.configure(build_settings(NO_REDIS))
    with capture() as tracked:
        assert tracking_worker.get_tracker() is configured
        tracking_worker.track("purchase", telegram_id=5, email="ann@example.com")
    assert list(tracked[0].requests) == ["graspil"] and tracked[0].skipped == {}
    assert tracking_worker.get_tracker() is configured


def test_given_settings_replace_the_default_tracker_only_while_capturing() -> None:
    before = tracking_worker.get_tracker()
    with capture({"providers": {"grampixel": NO_GRAMPIXEL}}) as tracked:
        inside = tracking_worker.get_tracker()
        tracking_worker.track("purchase", telegram_id=5, providers=["grampixel"])
    assert inside is not before and list(inside.producer.providers) == ["grampixel"]
    assert list(tracked[0].requests) == ["grampixel"]
    assert tracking_worker.get_tracker() is before


NO_GRAMPIXEL = {"api_key": "gp-key-1234", "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90"}


def test_an_event_held_until_commit_is_captured_when_it_is_enqueued(tracked: Tracked) -> None:
    """As under Django's transaction.atomic(): validated at once, enqueued (and captured) at
    the commit, never for a rollback."""
    held: list[Callable[[], None]] = []

    def hold(enqueue: Callable[[], None]) -> bool:
        held.append(enqueue)
        return True

    previous = tracking_worker.set_deferral(hold)
    try:
        tracking_worker.track("purchase", telegram_id=5)
        with pytest.raises(tracking_worker.ValidationError):
            tracking_worker.track("purchase", telegram_id=-1)
    finally:
        tracking_worker.set_deferral(previous)
    assert len(tracked) == 0 and len(held) == 1
    held[0]()  # the commit
    assert tracked.names == ["purchase"]


def test_a_tracker_made_while_capturing_is_captured_with_its_own_providers(
    tracked: Tracked,
) -> None:
    """As a Flask app created in the test: its own tracker, found by the integration's lookup."""
    app = Tracker(build_settings({"providers": {"grampixel": NO_GRAMPIXEL}}))
    bare = Tracker(build_settings({}))
    current = [app]
    previous = tracking_worker.set_lookup(lambda: current[0])
    try:
        tracking_worker.track("purchase", telegram_id=5)
        current[0] = bare
        tracking_worker.track("purchase", telegram_id=6)
    finally:
        tracking_worker.set_lookup(previous)
        app.close()
        bare.close()
    assert list(tracked[0].requests) == ["grampixel"]
    assert "graspil" in tracked[1].requests  # a tracker with no provider: the dummy ones


@pytest.mark.asyncio
async def test_atrack_in_an_async_test_is_captured(tracked: Tracked) -> None:
    event_id = await tracking_worker.atrack("registration", telegram_id=42)
    await tracking_worker.atrack_many([{"name": "purchase", "telegram_id": 42}])
    assert tracked.names == ["registration", "purchase"] and tracked[0].event_id == event_id
    await tracking_worker.aclose()


def test_clear_names_slices_and_for_provider(tracked: Tracked) -> None:
    tracking_worker.track_many([{"name": f"n{i}", "telegram_id": i + 1} for i in range(3)])
    assert [c.name for c in tracked[1:]] == ["n1", "n2"] and tracked[-1].name == "n2"
    assert tracked.for_provider("graspil") == []  # no target for these names
    assert len(tracked.for_provider("grampixel")) == 3
    tracked.clear()
    assert len(tracked) == 0 and tracked.names == []
    tracking_worker.track("n9", telegram_id=1)
    assert tracked.names == ["n9"]


def test_after_the_capture_track_goes_to_redis_again() -> None:
    with capture(NO_REDIS):
        tracking_worker.track("purchase", telegram_id=5)
    assert Tracker.intercept is None
    tracker = Tracker(build_settings(NO_REDIS))
    try:
        with pytest.raises(tracking_worker.TrackingUnavailable):
            tracker.track("purchase", telegram_id=5)
    finally:
        tracker.close()
