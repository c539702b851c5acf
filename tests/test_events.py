"""Validation and normalization of track() input (no Redis needed)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tracking_worker import checks, events
from tracking_worker.errors import ValidationError
from tracking_worker.event_fields import FAST
from tracking_worker.events import MAX_EVENT_BYTES, Event, EventSchema, Normalized, normalize

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


def errors_of(**data: Any) -> dict[str, list[str]]:
    """The ValidationError's fields; any other exception (ValueError...) fails the test."""
    with pytest.raises(ValidationError) as caught:
        normalize(data, EventSchema(), now=NOW)
    return caught.value.errors


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


def test_compact_json_leaves_out_empty_fields_and_keeps_falsy_values() -> None:
    raw = load(name="a", event_id="e1").to_json()
    assert "telegram_id" not in raw and "properties" not in raw
    zero = load(name="a", event_id="e1", value=0, currency="USD", context={"k": {}})
    assert json.loads(zero.to_json())["value"] == 0.0
    assert json.loads(zero.to_json())["context"] == {"k": {}}
    assert "properties" not in zero.to_json()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["graspil", "graspil", "giosg"], ("graspil", "giosg")),
        (["giosg", "graspil", "giosg", "graspil"], ("giosg", "graspil")),
        (["vibetrace"], ("vibetrace",)),
        (None, ()),  # None (like leaving it out) means all providers
    ],
)
def test_requested_providers_are_each_kept_once_in_order(
    given: list[str] | None, expected: tuple[str, ...]
) -> None:
    assert normalize({"name": "a", "providers": given}, EventSchema(), now=NOW).providers == (
        expected
    )


def test_empty_providers_list_is_refused_not_taken_as_all() -> None:
    assert errors_of(name="a", providers=[]) == {"providers": ["Must name at least one provider."]}


@pytest.mark.parametrize(
    "currency",
    ["usd\n", "\nusd", " usd", "usd ", "us", "usdx", "ÜSD", "\uff35\uff33\uff24", "u5d", ""],
)
def test_currency_is_exactly_three_ascii_letters(currency: str) -> None:
    assert "currency" in errors_of(name="a", value=1, currency=currency)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"telegram_id": 10**5000}, "telegram_id"),
        ({"telegram_id": 2**63}, "telegram_id"),
        ({"user_id": 10**5000}, "user_id"),
        ({"user_id": 2**63}, "user_id"),
        ({"user_id": -(2**63) - 1}, "user_id"),
        ({"order_id": -(10**5000)}, "order_id"),
        ({"event_id": 10**5000}, "event_id"),
        ({"value": 10**5000, "currency": "USD"}, "value"),
    ],
)
def test_out_of_range_ints_are_validation_errors(data: dict[str, Any], field: str) -> None:
    assert field in errors_of(name="a", **data)


def test_ints_at_the_64_bit_bounds_are_accepted() -> None:
    event = load(name="a", telegram_id=2**63 - 1, user_id=-(2**63), order_id=2**63 - 1)
    assert event.telegram_id == 2**63 - 1
    assert event.user_id == "-9223372036854775808"
    assert event.order_id == "9223372036854775807"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"properties": {1: "int", "1": "str"}}, "properties.1"),
        ({"properties": {"nested": {2: "x"}}}, "properties.nested.2"),
        ({"properties": {"items": [{"ok": 1}, {3: "x"}]}}, "properties.items.1.3"),
        ({"properties": {"a": ({"b": [{None: 0}]},)}}, "properties.a.0.b.0.None"),
        ({"properties": {True: "x"}}, "properties.True"),
        ({"context": {b"k": 1}}, "context.b'k'"),
        ({"context": {"x": {(1, 2): 1}}}, "context.x.(1, 2)"),
        ({"context": {10**5000: 1}}, "context.<int of 16610 bits>"),
    ],
)
def test_non_string_keys_are_refused_with_their_path(data: dict[str, Any], path: str) -> None:
    errors = errors_of(name="a", **data)
    assert list(errors) == [path]
    assert path in str(ValidationError(errors))


def test_string_keys_at_every_depth_with_lists_pass() -> None:
    properties = {"a": [{"b": {"c": [1, {"d": None}]}}], "e": ("f", {"g": []})}
    event = load(name="a", properties=properties, context={"page": {"path": "/"}})
    assert event.properties == {"a": [{"b": {"c": [1, {"d": None}]}}], "e": ["f", {"g": []}]}
    assert event.context == {"page": {"path": "/"}}


def test_key_check_survives_shared_cyclic_and_many_bad_keys() -> None:
    shared = {"k": 1}
    assert load(name="a", properties={"x": shared, "y": [shared, shared]}).properties == {
        "x": {"k": 1},
        "y": [{"k": 1}, {"k": 1}],
    }
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert "properties" in errors_of(name="a", properties=cyclic)
    errors = errors_of(name="a", properties={n: n for n in range(10_000)})
    assert 1 <= len(errors) <= 10 and "properties.0" in errors


def test_size_limit_counts_utf8_bytes_not_json_escapes() -> None:
    # 20,000 bytes in UTF-8, but 60,000 as \u00e9 escapes.
    normalized = normalize({"name": "a", "properties": {"t": "é" * 10_000}}, EventSchema(), now=NOW)
    assert "é" * 10_000 in normalized.raw
    assert len(normalized.raw.encode()) < MAX_EVENT_BYTES


@pytest.mark.parametrize("extra", [0, 1])
def test_size_limit_boundary_in_utf8(extra: int) -> None:
    """A blob filling the event to exactly MAX_EVENT_BYTES passes; one more byte fails."""
    base = {"name": "a", "event_id": "e1"}
    overhead = len(normalize({**base, "properties": {"t": ""}}, EventSchema(), now=NOW).raw)
    room = MAX_EVENT_BYTES - overhead
    blob = "é" * (room // 2) + "x" * (room % 2 + extra)
    data = {**base, "properties": {"t": blob}}
    if extra:
        assert "event" in errors_of(**data)
    else:
        assert len(normalize(data, EventSchema(), now=NOW).raw.encode()) == MAX_EVENT_BYTES


def test_normalized_raw_is_to_json_compact_utf8() -> None:
    normalized = normalize(
        {"name": "покупка", "event_id": "e1", "properties": {"ключ": ["é", 1]}},
        EventSchema(),
        now=NOW,
    )
    raw = normalized.raw
    assert raw == normalized.event.to_json()
    assert "покупка" in raw and "\\u" not in raw
    assert ", " not in raw and ": " not in raw
    assert Event.from_json(raw.encode()) == normalized.event
    assert Normalized(normalized.event).raw == ""  # other constructors keep working


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"properties": {"x": "\ud800"}}, "properties"),
        ({"context": {"\udc00": 1}}, "context"),
        ({"name": "a\udfff"}, "name"),
    ],
)
def test_lone_surrogate_is_refused(data: dict[str, Any], field: str) -> None:
    """UTF-8 cannot encode it, so Redis could not store the (no longer escaped) event."""
    assert field in errors_of(**{"name": "a", **data})


def test_the_schema_has_only_the_hooks_the_fast_path_repeats() -> None:
    """normalize() runs each field of the schema without Schema.load for valid events; a new
    schema-level hook must be repeated there (or the fast path dropped), so this test names them."""
    hooks = {k: [name for name, *_ in found] for k, found in EventSchema._hooks.items() if found}
    assert hooks == {"validates_schema": ["_currency_with_value"]}


FAST_PATH_CASES = [
    {"name": "purchase", "telegram_id": 5, "value": 3, "currency": "eur"},
    {"name": "x", "email": "Ann@Example.com", "user_id": 77, "properties": {"a": [1, {"b": 2}]}},
    {"name": "x", "occurred_at": "2024-08-03T20:00:00.123+02:00", "order_id": 12},
    {"name": "x", "providers": ["graspil", "graspil"], "event_id": "e-1"},
    {"name": "x", "value": 3},  # currency missing: only the schema-level rule catches it
    {"name": "x", "telegram_id": True},
    {"name": "x", "unknown": 1},
    {"telegram_id": 5},
    {"name": "x", "currency": "usd\n", "value": 1},
    {"name": "x", "properties": {1: "int", "1": "str"}},
]


@pytest.mark.parametrize("data", FAST_PATH_CASES)
def test_the_fast_path_means_what_the_schema_means(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def outcome() -> Any:
        try:
            got = normalize(dict(data), EventSchema(), now=1_700_000_000.0)
        except ValidationError as exc:
            return exc.errors
        event = {k: v for k, v in dataclasses.asdict(got.event).items() if k != "event_id"}
        return event, got.providers, got.caller_id

    fast = outcome()
    monkeypatch.setattr(events, "_valid_fields", lambda data, schema: None)  # Schema.load only
    assert fast == outcome()


PLAIN_CASE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    7,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    0.0,
    -0.0,
    5.5,
    -5.5,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e308,
    Decimal("2.5"),
    "",
    "a",
    "usd",
    "USD",
    "Eur",
    "us",
    "usdd",
    "us1",
    "usd\n",
    "xtr",
    "XTR",
    "ABC",  # three letters, no currency
    "10c574d9-6d2c-4e6d-a141-ce6da141ce6d",
    "6f1c2a4e-9b7d-4e21-8c55-0a1b2c3d4e5f",
    "6F1C2A4E-9B7D-4E21-8C55-0A1B2C3D4E5F",
    "6f1c2a4e9b7d4e218c550a1b2c3d4e5f",
    "ÜSD",
    "\uff41\uff42\uff43",  # fullwidth letters: isalpha() but not ASCII
    "x" * 128,
    "x" * 129,
    "x" * 256,
    "x" * 257,
    b"abc",
    [],
    {},
    "12",
]


@pytest.mark.parametrize("key", sorted(FAST))
def test_each_plain_case_check_gives_what_its_field_gives(key: str) -> None:
    """A plain-case check answers only where the field itself would accept the value, and with
    the same result; anything else it hands to the field (``_SLOW``)."""
    field = EventSchema().load_fields[key]
    handled = 0
    for value in PLAIN_CASE_VALUES:
        got = FAST[key](value)
        if got is checks.SLOW:
            continue
        handled += 1
        expected = field.deserialize(value, key, {key: value})  # raises if the field refuses
        assert (got, type(got)) == (expected, type(expected)), (key, value)
    assert handled >= 3, key  # the check does take the plain cases


@pytest.mark.parametrize(
    "data",
    [
        {"event_id": "a", "name": "n", "occurred_at": "t"},
        {"event_id": "a", "name": "n", "occurred_at": "t", "properties": {"x": [1]}, "value": 2.5},
        {"event_id": "a", "name": "n", "occurred_at": "t", "context": {}, "queued_at": 1.5},
    ],
)
def test_from_json_builds_what_the_constructor_builds(data: dict[str, Any]) -> None:
    import json

    got = Event.from_json(json.dumps(data))
    assert got == Event(**data) and vars(got) == vars(Event(**data))
    assert got.properties is not Event.from_json(json.dumps(data)).properties  # never shared


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "n", "occurred_at": "t"}',
        '{"event_id": "a", "name": "n", "occurred_at": "t", "x": 1}',
    ],
)
def test_from_json_refuses_missing_and_unknown_fields(raw: str) -> None:
    with pytest.raises(TypeError):
        Event.from_json(raw)
