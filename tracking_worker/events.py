"""The normalized event: what ``track()`` validates, what Redis holds, what providers map.

The queued item is the normalized event, never a provider payload: mapping happens at send time,
so a corrected mapping config also applies to retries and dead-letter replays.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from .errors import ValidationError

MAX_EVENT_BYTES = 32 * 1024
_ID = validate.Length(min=1, max=256)


@dataclass(frozen=True)
class Event:
    """One normalized event. ``occurred_at`` is UTC ISO 8601 with milliseconds."""

    event_id: str
    name: str
    occurred_at: str
    telegram_id: int | None = None
    email: str | None = None
    user_id: str | None = None
    visitor_id: str | None = None
    session_id: str | None = None
    value: float | None = None
    currency: str | None = None
    order_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    queued_at: float = 0.0

    def to_json(self) -> str:
        """Compact form for Redis: empty fields are left out (they are the defaults)."""
        data = {k: v for k, v in asdict(self).items() if v is not None and v != {}}
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse a queued item; raises ValueError/TypeError/KeyError on a malformed one."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("queued item is not a JSON object")
        return cls(**data)

    @property
    def occurred(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at)


class _StrictInteger(fields.Integer):
    """An int that is really an int: ``True`` and ``"12"`` are errors, not guesses."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class _Number(fields.Float):
    """A finite non-negative number (int, float or Decimal), never a bool or a string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")
        number = super()._deserialize(value, attr, data, **kwargs)
        if number is None or not math.isfinite(number):
            raise ma.ValidationError("Must be a finite number.")
        return number


class _IdString(fields.String):
    """An identifier: a string, or an int turned into one (app ids are often ints)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        result: str = super()._deserialize(value, attr, data, **kwargs)
        return result


class _AwareDateTime(fields.Field[str]):
    """A timezone-aware datetime or ISO 8601 string with an offset, normalized to UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ma.ValidationError("Not an ISO 8601 datetime.") from None
        if not isinstance(value, datetime):
            raise ma.ValidationError("Must be a datetime or an ISO 8601 string.")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ma.ValidationError("Must be timezone-aware (a naive datetime is ambiguous).")
        try:
            return format_time(value)
        except (OverflowError, ValueError):
            raise ma.ValidationError("Out of range once converted to UTC.") from None


class _JsonObject(fields.Dict):
    """A dict that survives JSON as it is (string keys, no NaN, no custom objects)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            result = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
            return json.loads(json.dumps(result, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ma.ValidationError(f"Must be JSON-serializable: {exc}") from None
        except RecursionError:
            raise ma.ValidationError("Nested too deeply.") from None


class EventSchema(ma.Schema):
    """Validation rules of one ``track()`` call; unknown keys are errors."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    telegram_id = _StrictInteger(validate=validate.Range(min=1), allow_none=True)
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    user_id = _IdString(allow_none=True, validate=_ID)
    visitor_id = _IdString(allow_none=True, validate=_ID)
    session_id = _IdString(allow_none=True, validate=_ID)
    value = _Number(allow_none=True, validate=validate.Range(min=0))
    currency = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Must be 3 letters.")
    )
    order_id = _IdString(allow_none=True, validate=_ID)
    occurred_at = _AwareDateTime(allow_none=True)
    properties = _JsonObject(keys=fields.String(), allow_none=True)
    context = _JsonObject(keys=fields.String(), allow_none=True)
    event_id = _IdString(allow_none=True, validate=validate.Length(min=1, max=128))
    providers = fields.List(fields.String(), allow_none=True)

    @ma.validates_schema
    def _currency_with_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("value") is not None and not data.get("currency"):
            raise ma.ValidationError("Required when value is given.", "currency")


def format_time(moment: datetime) -> str:
    """UTC, milliseconds, explicit offset: the strictest form any provider asks for."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Normalized:
    """A valid event with what routing needs: the providers asked for (empty = all) and
    whether the caller chose the event id (then a repeat within dedupe_ttl is dropped)."""

    event: Event
    providers: tuple[str, ...] = ()
    caller_id: bool = False


def normalize(data: dict[str, Any], schema: EventSchema, *, now: float) -> Normalized:
    """Validate one raw event (see EventSchema); raises ValidationError naming bad fields."""
    try:
        clean = schema.load(data)
    except ma.ValidationError as exc:
        raise ValidationError(_flatten(exc.messages)) from None
    requested = tuple(clean.pop("providers", None) or ())
    caller_id = bool(clean.get("event_id"))
    if clean.get("currency"):
        clean["currency"] = clean["currency"].upper()
    clean["event_id"] = clean.get("event_id") or str(uuid.uuid4())
    if clean.get("occurred_at") is None:
        clean["occurred_at"] = format_time(datetime.fromtimestamp(now, timezone.utc))
    for key in ("properties", "context"):
        clean[key] = clean.get(key) or {}
    event = Event(**clean, queued_at=now)
    if len(event.to_json().encode()) > MAX_EVENT_BYTES:
        raise ValidationError({"event": [f"Serialized event exceeds {MAX_EVENT_BYTES} bytes."]})
    return Normalized(event, requested, caller_id)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"field.sub": [msg, ...]}``."""
    if isinstance(messages, list):
        return {prefix or "event": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key == "_schema":
            name = prefix or "event"
        flat.update(_flatten(value, name))
    return flat
