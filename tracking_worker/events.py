"""The normalized event: what ``track()`` validates, what Redis holds, what providers map.

The queued item is the normalized event, never a provider payload: mapping happens at send time,
so a corrected mapping config also applies to retries and dead-letter replays.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from .errors import ValidationError

MAX_EVENT_BYTES = 32 * 1024
_ID = validate.Length(min=1, max=256)
#: The signed 64-bit range: what every provider (and Redis) can hold as an integer id.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Bad keys reported per object: enough to fix them, bounded however large the input is.
_MAX_KEY_ERRORS = 10


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
        """Compact form for Redis: empty fields are left out (they are the defaults).

        Non-ASCII text is kept as is (Redis stores UTF-8): ``\\u00e9`` escapes would triple the
        size of non-Latin text, and MAX_EVENT_BYTES is counted on this very string.
        """
        return _compact_json(vars(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse a queued item; raises ValueError/TypeError/KeyError on a malformed one."""
        data: Any = _SLOW
        if type(raw) is str:
            # What json.loads does for a plain queued item, without its per-call checks: it
            # runs once per delivered event. Anything else (bytes, surrounding whitespace, an
            # error to report) goes through json.loads itself.
            try:
                data, end = _DECODE(raw)
            except ValueError:
                data = _SLOW
            else:
                if end != len(raw):
                    data = _SLOW
        if data is _SLOW:
            data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("queued item is not a JSON object")
        return _built(data)

    @property
    def occurred(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at)


class _StrictInteger(fields.Integer):
    """An int that is really an int: ``True`` and ``"12"`` are errors, not guesses."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return int(value)  # a plain int, not an IntEnum or other subclass


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
    """An identifier: a string, or an int turned into one (app ids are often ints).

    The int must fit in 64 bits: a larger one is a bug, not an id, and Python refuses to turn
    one of more than 4300 digits into a string (a ValueError, not a validation error).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise ma.ValidationError(
                    "An int id must fit in 64 bits (-2**63 to 2**63 - 1); pass a string."
                )
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
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        bad_keys = _non_string_keys(value)
        if bad_keys:
            raise ma.ValidationError(bad_keys)
        try:
            result = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
            return json.loads(json.dumps(result, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ma.ValidationError(f"Must be JSON-serializable: {exc}") from None
        except RecursionError:
            raise ma.ValidationError("Nested too deeply.") from None


_Path = tuple[str, "_Path"] | None  # a key and its parent's path, the root's being None


def _non_string_keys(root: Mapping[Any, Any]) -> dict[str, list[str]]:
    """``{"a.0.1": [msg]}`` for each key that is not a string, at any depth (lists included).

    JSON would turn ``1`` into ``"1"``, silently merging ``{1: x, "1": y}`` into one key; an
    error names the path instead. The walk is iterative with parent-linked paths, so depth costs
    neither recursion nor quadratic strings (json.dumps refuses excessive depth afterwards), and
    an object reached twice (a shared or cyclic one) is walked once.
    """
    errors: dict[str, list[str]] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, _Path]] = [(root, None)]
    while stack and len(errors) < _MAX_KEY_ERRORS:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        items: Iterable[tuple[Any, Any]]
        if isinstance(node, Mapping):
            items = node.items()
        elif isinstance(node, (list, tuple)):
            items = enumerate(node)
        else:
            continue
        seen.add(id(node))
        children: list[tuple[Any, _Path]] = []
        for key, child in items:
            if isinstance(node, Mapping) and not isinstance(key, str):
                name = _join((_key_name(key), path))
                errors[name] = [f"Keys must be strings, not {type(key).__name__}."]
                if len(errors) >= _MAX_KEY_ERRORS:
                    break
            elif isinstance(child, (Mapping, list, tuple)):
                children.append((child, (str(key), path)))
        stack.extend(reversed(children))  # depth first, in the input's order
    return errors


def _key_name(key: Any) -> str:
    """A bad key as shown in an error path (``1``, ``b'x'``); safe for a huge int."""
    if isinstance(key, int) and key.bit_length() > 64:
        return f"<{type(key).__name__} of {key.bit_length()} bits>"
    return repr(key)[:64]


def _join(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        name, path = path
        parts.append(name)
    return ".".join(reversed(parts))


class EventSchema(ma.Schema):
    """Validation rules of one ``track()`` call; unknown keys are errors."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    telegram_id = _StrictInteger(
        validate=[validate.Range(min=1), validate.Range(max=_INT64_MAX)], allow_none=True
    )
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    user_id = _IdString(allow_none=True, validate=_ID)
    visitor_id = _IdString(allow_none=True, validate=_ID)
    session_id = _IdString(allow_none=True, validate=_ID)
    value = _Number(allow_none=True, validate=validate.Range(min=0))
    # \Z, not $: "$" also matches before a trailing newline, and "usd\n" is not a currency.
    currency = fields.String(
        allow_none=True, validate=validate.Regexp(r"[A-Za-z]{3}\Z", error="Must be 3 letters.")
    )
    order_id = _IdString(allow_none=True, validate=_ID)
    occurred_at = _AwareDateTime(allow_none=True)
    properties = _JsonObject(keys=fields.String(), allow_none=True)
    context = _JsonObject(keys=fields.String(), allow_none=True)
    event_id = _IdString(allow_none=True, validate=validate.Length(min=1, max=128))
    # None means all providers; [] would silently mean all too, so it is refused.
    providers = fields.List(
        fields.String(),
        allow_none=True,
        validate=validate.Length(min=1, error="Must name at least one provider."),
    )

    @ma.validates_schema
    def _currency_with_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("value") is not None and not data.get("currency"):
            raise ma.ValidationError("Required when value is given.", "currency")


_FIELDS = tuple(f.name for f in dataclasses.fields(Event))
_FIELD_SET = frozenset(_FIELDS)
_REQUIRED = frozenset(
    f.name
    for f in dataclasses.fields(Event)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
#: The plain defaults (properties and context get fresh dicts instead).
_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(Event) if f.default is not dataclasses.MISSING
}
_DECODE = json.JSONDecoder().raw_decode
#: One encoder, built once: ``json.dumps`` with options builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _built(data: dict[str, Any]) -> Event:
    """``Event(**data)`` without a frozen dataclass's ``object.__setattr__`` per field: it
    runs once per delivered event (where it cost more than parsing the JSON) and once per
    tracked one."""
    if not (_REQUIRED <= data.keys() <= _FIELD_SET):
        return Event(**data)  # raises the TypeError that names what is missing or unknown
    event = object.__new__(Event)
    fields_ = event.__dict__
    fields_.update(_DEFAULTS)
    fields_.update(data)
    if "properties" not in data:
        fields_["properties"] = {}
    if "context" not in data:
        fields_["context"] = {}
    return event


def _compact_json(fields: Mapping[str, Any]) -> str:
    """``Event.to_json`` of an event's fields, in field order (the id first: the Lua scripts
    read it there). Not dataclasses.asdict: it deep-copies every nested dict, on track()'s path."""
    get = fields.get  # not `v != {}`: that builds a dict per field, on track()'s path
    return _ENCODE(
        {k: v for k in _FIELDS if (v := get(k)) is not None and (v or type(v) is not dict)}
    )


_EVENT_ID = re.compile(r'^\{"event_id":"([^"\\]+)"')


def event_id_of(raw: str) -> str | None:
    """The id at the head of a queued event's JSON (``to_json`` writes it first), as the Lua
    scripts read it for receipts: None for an id holding a quote or a backslash."""
    found = _EVENT_ID.match(raw)
    return found.group(1) if found else None


def time_of(timestamp: float) -> str:
    """A Unix time as ``format_time`` writes it."""
    return format_time(datetime.fromtimestamp(timestamp, timezone.utc))


def new_event_id() -> str:
    """A random UUID4 as text, as ``str(uuid.uuid4())`` gives it, at a third of the cost (no
    UUID object): one per tracked event."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


#: RFC 4122 variant bits (10xx) on the first hex digit of the fourth group.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def format_time(moment: datetime) -> str:
    """UTC, milliseconds, explicit offset: the strictest form any provider asks for."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A valid event with what routing needs: the providers asked for (empty = all) and
    whether the caller chose the event id (then a repeat within dedupe_ttl is dropped).

    ``raw`` is ``event.to_json()`` as computed by ``normalize`` for the size check, so enqueuing
    need not serialize again; "" where a Normalized was built some other way (call to_json).
    """

    event: Event
    providers: tuple[str, ...] = ()
    caller_id: bool = False
    raw: str = ""


def normalize(
    data: dict[str, Any], schema: EventSchema, *, now: float, occurred_at: str | None = None
) -> Normalized:
    """Validate one raw event (see EventSchema); raises ValidationError naming bad fields.
    ``occurred_at``: ``now`` formatted, for an event that gives none (a batch formats it once)."""
    clean = _valid_fields(data, schema)
    if clean is None:  # something is wrong or unusual: the whole schema says what
        try:
            clean = schema.load(data)
        except ma.ValidationError as exc:
            raise ValidationError(_flatten(exc.messages)) from None
    # Each provider once, in the order given: a repeat must not enqueue the event twice.
    requested = tuple(dict.fromkeys(clean.pop("providers", None) or ()))
    caller_id = bool(clean.get("event_id"))
    if clean.get("currency"):
        clean["currency"] = clean["currency"].upper()
    clean["event_id"] = clean.get("event_id") or new_event_id()
    if clean.get("occurred_at") is None:
        clean["occurred_at"] = occurred_at or time_of(now)
    for key in ("properties", "context"):
        if not clean.get(key):
            clean[key] = {}
    clean["queued_at"] = round(now, 3)  # ms: 4 bytes less per queued event than the float
    event = _built(clean)
    raw = _compact_json(clean)  # what event.to_json() gives, without reading it back
    try:
        size = len(raw.encode())  # the UTF-8 bytes Redis will hold
    except UnicodeEncodeError:
        raise ValidationError(_unencodable(event)) from None
    if size > MAX_EVENT_BYTES:
        raise ValidationError({"event": [f"Serialized event exceeds {MAX_EVENT_BYTES} bytes."]})
    return Normalized(event, requested, caller_id, raw)


def _valid_fields(data: dict[str, Any], schema: EventSchema) -> dict[str, Any] | None:
    """The schema's own fields, each run on the value given (the same deserialization and
    validators), without ``Schema.load``'s machinery: about half of track()'s validation time.
    None as soon as anything fails or needs the schema's whole view (an unknown key, a missing
    name, value without currency); ``schema.load`` then produces the errors, so every rule and
    message is the schema's."""
    if "name" not in data:
        return None
    fields_ = schema.load_fields
    clean: dict[str, Any] = {}
    try:
        for key, value in data.items():
            fast = _FAST.get(key)
            if fast is not None and (got := fast(value)) is not _SLOW:
                clean[key] = got
                continue
            field = fields_.get(key)
            if field is None:
                return None
            clean[key] = field.deserialize(value, key, data)
    except ma.ValidationError:
        return None
    if clean.get("value") is not None and not clean.get("currency"):
        return None
    return clean


#: "Not plainly valid: ask the schema's field" (which accepts or names the error).
_SLOW: Any = object()


def _text(most: int, *, none: bool = True) -> Any:
    def check(value: Any) -> Any:
        if type(value) is str and 0 < len(value) <= most:
            return value
        return None if none and value is None else _SLOW

    return check


def _id_text(most: int) -> Any:
    """_IdString's plain cases: a short string, or an int inside 64 bits."""

    text = _text(most)

    def check(value: Any) -> Any:
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return str(value)
        return text(value)

    return check


def _telegram_id(value: Any) -> Any:
    if type(value) is int and 1 <= value <= _INT64_MAX:
        return value
    return None if value is None else _SLOW


def _value(value: Any) -> Any:
    if type(value) is float and 0 <= value < math.inf:
        return value
    if type(value) is int and 0 <= value <= 2**53:
        return float(value)
    return None if value is None else _SLOW


def _currency(value: Any) -> Any:
    if type(value) is str and len(value) == 3 and value.isascii() and value.isalpha():
        return value
    return None if value is None else _SLOW


#: Plain-case checks that give what the schema's field gives, without marshmallow's calls
#: (most of track()'s validation time). Anything else goes to the field itself, so every rule
#: and message stays the schema's; ``tests/test_events.py`` holds them to the same answers.
_FAST: dict[str, Any] = {
    "name": _text(128, none=False),
    "telegram_id": _telegram_id,
    "value": _value,
    "currency": _currency,
    "user_id": _id_text(256),
    "visitor_id": _id_text(256),
    "session_id": _id_text(256),
    "order_id": _id_text(256),
    "event_id": _id_text(128),
}


def _unencodable(event: Event) -> dict[str, list[str]]:
    """The fields holding text that UTF-8 cannot encode (a lone surrogate such as "\\ud800"):
    Redis could not store it, and no provider would accept it."""
    message = ["Contains a lone surrogate (not valid Unicode text)."]
    errors: dict[str, list[str]] = {}
    for name, value in asdict(event).items():
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            errors[name] = message
    return errors or {"event": message}


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
