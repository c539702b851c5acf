"""Property: whatever track() is given, it raises ValidationError or enqueues; for invalid
input nothing at all reaches Redis."""

from __future__ import annotations

from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.producer.test_enqueue import stats, tracker_for
from tracking_worker.errors import ValidationError
from tracking_worker.keys import Keys

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
)
FIELDS = st.sampled_from(
    [
        "telegram_id",
        "email",
        "user_id",
        "visitor_id",
        "session_id",
        "value",
        "currency",
        "order_id",
        "occurred_at",
        "properties",
        "context",
        "event_id",
        "providers",
        "bogus",
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.one_of(st.text(max_size=200), st.integers(), st.none()),
    fields=st.dictionaries(FIELDS, VALUES, max_size=6),
)
def test_track_raises_only_validation_errors_and_enqueues_nothing_then(
    redis_url: str, redis_client: redis.Redis, name: Any, fields: dict[str, Any]
) -> None:
    tracker = tracker_for(redis_url)
    before = redis_client.llen(Keys("graspil").pending), stats(redis_client)
    try:
        tracker.track(name, **fields)
    except ValidationError as exc:
        assert exc.errors and all(isinstance(k, str) for k in exc.errors)
        assert (redis_client.llen(Keys("graspil").pending), stats(redis_client)) == before
    finally:
        tracker.close()
