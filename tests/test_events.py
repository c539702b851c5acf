"""Validation and normalization of track() input (no Redis needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tracking_worker.errors import ValidationError
from tracking_worker.events import MAX_EVENT_BYTES, Event, EventSchema, normalize

NOW = 1_700_000_000.0


def _nested(depth: int) -> dict[str, Any]:
    """A dict nested deeper than the interpreter's recursion limit allows to serialize."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def load(**data: Any) -> Event:
    return normalize(data, EventSchema(), now=NOW).event


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "a", "telegram_id": 0}, "telegram_id"),
        ({"name": "a", "telegram_id": True}, "telegram_id"),
        ({"name": "a", "telegram_id": "123"}, "telegram_id"),
        ({"name": "a", "telegram_id": 1.5}, "telegram_id"),
        ({"name": "a", "email": "not-an-email"}, "email"),
        ({"name": "a", "value": -1, "currency": "USD"}, "value"),
        ({"name": "a", "value": float("inf"), "currency": "USD"}, "value"),
        ({"name": "a", "value": "10", "currency": "USD"}, "value"),
        ({"name": "a", "value": True, "currency": "USD"}, "value"),
        ({"name": "a", "value": 10}, "currency"),
        ({"name": "a", "value": 10, "currency": "US"}, "currency"),
        ({"name": "a", "value": 10, "currency": "U$D"}, "currency"),
        ({"name": "a", "occurred_at": "2024-01-01T10:00:00"}, "occurred_at"),
        ({"name": "a", "occurred_at": datetime(2024, 1, 1)}, "occurred_at"),
        ({"name": "a", "occurred_at": "yesterday"}, "occurred_at"),
        ({"name": "a", "occurred_at": 1700000000}, "occurred_at"),
        ({"name": "a", "occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
        ({"name": "a", "properties": _nested(3000)}, "properties"),
        ({"name": "a", "properties": {"x": object()}}, "properties"),
        ({"name": "a", "properties": {"x": float("nan")}}, "properties"),
        ({"name": "a", "properties": [1, 2]}, "properties"),
        ({"name": "a", "context": "text"}, "context"),
        ({"name": "a", "colour": "red"}, "colour"),
        ({"name": "a", "event_id": ""}, "event_id"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize(data, EventSchema(), now=NOW)
    assert field in caught.value.errors
    assert field in str(caught.value)


def test_oversized_event_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        load(name="a", properties={"blob": "x" * MAX_EVENT_BYTES})
    assert "event" in caught.value.errors


def test_normalizes_currency_time_and_ids() -> None:
    moment = datetime(2024, 8, 3, 20, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    event = load(
        name="purchase",
        telegram_id=42,
        value=Decimal("10.5"),
        currency="usd",
        occurred_at=moment,
        user_id=7,
        order_id=99,
    )
    assert event.currency == "USD"
    assert event.value == 10.5
    assert event.occurred_at == "2024-08-03T18:00:00.123+00:00"
    assert event.user_id == "7" and event.order_id == "99"
    assert len(event.event_id) == 36
    assert event.queued_at == NOW


def test_iso_string_with_z_and_default_time() -> None:
    assert load(name="a", occurred_at="2024-01-01T00:00:00Z").occurred_at == (
        "2024-01-01T00:00:00.000+00:00"
    )
    assert load(name="a").occurred_at == "2023-11-14T22:13:20.000+00:00"


def test_caller_event_id_is_kept_and_round_trips() -> None:
    event = load(name="a", event_id="order-1", properties={"k": [1, "v"]})
    assert event.event_id == "order-1"
    assert Event.from_json(event.to_json()) == event


def test_compact_json_leaves_out_empty_fields() -> None:
    raw = load(name="a", event_id="e1").to_json()
    assert "telegram_id" not in raw and "properties" not in raw
