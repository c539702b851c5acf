"""The normalized event: what ``track()`` validates, what Redis holds, what providers map.

The queued item is the normalized event, never a provider payload: mapping happens at send time,
so a corrected mapping config also applies to retries and dead-letter replays. The fields are
declared in ``event_fields.py``, their checks written in ``checks.py``, the JSON form in
``wire.py``; this module turns one raw event into a ``Normalized`` one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import marshmallow as ma

from .checks import SLOW, format_time
from .errors import ValidationError
from .event_fields import FAST, WIRE, Event, EventSchema
from .wire import event_id_of

__all__ = [
    "MAX_EVENT_BYTES",
    "Event",
    "EventSchema",
    "Normalized",
    "event_id_of",
    "format_time",
    "new_event_id",
    "normalize",
    "time_of",
]

MAX_EVENT_BYTES = 32 * 1024
#: Read once per tracked event: global names, not attribute lookups.
_built, _dumps = WIRE.built, WIRE.dumps


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
    #: The batch mark of the multi-event call that sent it, for an event spooled after that
    #: call's round trip failed: the drain asks whether the call ran (``Producer.plan``).
    batch: str = ""


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
    raw = _dumps(clean)  # what event.to_json() gives, without reading it back
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
            fast = FAST.get(key)
            if fast is not None and (got := fast(value)) is not SLOW:
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
