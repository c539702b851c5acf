"""An event's fields, declared once: ``DECLARED`` holds each field's rules (its marshmallow
field with validators and messages, its plain-case check) and how ``tracking-worker send``
takes it. ``EventSchema``, the fast path's ``FAST`` table and the CLI's options are built from it.

Two typed views are written out beside it, because mypy reads types only from class bodies:
``Event`` (what is stored: ``event.telegram_id`` is an ``int | None``) and ``TrackFields``
(what ``track()`` accepts: ``user_id`` may be an int, ``occurred_at`` a datetime). Generating
either from ``DECLARED`` would leave mypy strict with ``Any`` for every field, so instead both
are checked against it at import, and a field missing from one fails the import with its name.

Adding a field: its ``Declared(...)`` line, a line in ``Event`` and in ``TrackFields`` (here,
beside it), then the providers' mappings that use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

import marshmallow as ma
from marshmallow import fields, validate

from . import checks, wire
from .checks import INT64_MAX, AwareDateTime, IdString, JsonObject, Number, StrictInteger, Uuid

#: How ``tracking-worker send`` reads an option's text: an int, a finite number, the text as
#: is, or ``key=value`` with the value read as JSON when it parses.
Parse = Literal["int", "number", "text", "key=value"]


@dataclass(frozen=True)
class Declared:
    """One field of ``track()``'s input."""

    name: str
    #: The schema's field: every rule and error message of the field.
    field: ma.fields.Field[Any]
    #: The plain cases the field accepts, answered without marshmallow (None: always ask it).
    fast: checks.Check | None = None
    #: How ``tracking-worker send`` reads the option (a required field is its argument).
    parse: Parse = "text"
    help: str | None = None
    #: Repeatable under this singular option name (``--property``): the values make a list,
    #: or a dict for ``key=value``.
    each: str | None = None
    #: False for input that routes the event rather than being part of it.
    stored: bool = True


def _id(most: int = 256) -> ma.fields.Field[Any]:
    return IdString(allow_none=True, validate=validate.Length(min=1, max=most))


def _key_values(name: str, *, each: str) -> Declared:
    """A JSON object, given to the CLI as repeated ``k=v`` options."""
    field = JsonObject(keys=fields.String(), allow_none=True)
    return Declared(name, field, parse="key=value", help="k=v (repeatable).", each=each)


#: Every field ``track()`` takes, in the schema's order (the order errors are reported in).
DECLARED: tuple[Declared, ...] = (
    Declared(
        "name",
        fields.String(required=True, validate=validate.Length(min=1, max=128)),
        checks.text(128, none=False),
    ),
    Declared(
        "telegram_id",
        StrictInteger(
            validate=[validate.Range(min=1), validate.Range(max=INT64_MAX)], allow_none=True
        ),
        checks.telegram_id,
        parse="int",
        help="Telegram user id.",
    ),
    Declared("email", fields.Email(allow_none=True, validate=validate.Length(max=254))),
    Declared("user_id", _id(), checks.id_text(256)),
    Declared("visitor_id", _id(), checks.id_text(256)),
    Declared(
        "session_id",
        _id(),
        checks.id_text(256),
        help="Legacy: the Mini App session UUID (prefer --miniapp-session-id).",
    ),
    Declared(
        "miniapp_session_id",
        Uuid(allow_none=True),
        checks.uuid_text,
        help="The Mini App session UUID (TG Analytics session_id).",
    ),
    Declared(
        "ad_session_id",
        _id(),
        checks.id_text(256),
        help="The ad click's session: the bot's /start value (GramPixel session_id).",
    ),
    Declared(
        "value",
        Number(allow_none=True, validate=validate.Range(min=0)),
        checks.amount,
        parse="number",
        help="Amount; needs --currency.",
    ),
    Declared(
        "currency",
        fields.String(allow_none=True, validate=checks.known_currency),
        checks.currency,
        help="ISO 4217 code or XTR (Telegram Stars), any case.",
    ),
    Declared("order_id", _id(), checks.id_text(256)),
    Declared(
        "occurred_at", AwareDateTime(allow_none=True), help="ISO 8601 with offset; default now."
    ),
    _key_values("properties", each="property"),
    _key_values("context", each="context"),
    Declared(
        "event_id",
        _id(128),
        checks.id_text(128),
        help="Your own id: a repeat within dedupe_ttl is not enqueued.",
    ),
    Declared(
        "providers",
        # None means all providers; [] would silently mean all too, so it is refused.
        fields.List(
            fields.String(),
            allow_none=True,
            validate=validate.Length(min=1, error="Must name at least one provider."),
        ),
        help="Only to this provider (repeatable).",
        each="provider",
        stored=False,
    ),
)


class TrackFields(TypedDict, total=False):
    """``track()``'s and ``atrack()``'s optional keyword arguments (``name`` aside), as the
    caller may give them; None means not given. Checked against ``DECLARED`` at import."""

    telegram_id: int | None
    email: str | None
    user_id: str | int | None
    visitor_id: str | None
    session_id: str | None
    miniapp_session_id: str | None
    ad_session_id: str | None
    value: float | None
    currency: str | None
    order_id: str | int | None
    occurred_at: datetime | str | None
    properties: Mapping[str, Any] | None
    context: Mapping[str, Any] | None
    event_id: str | None
    providers: Iterable[str] | None


@dataclass(frozen=True)
class Event:
    """One normalized event. ``occurred_at`` is UTC ISO 8601 with milliseconds.

    The fields' order is the serialized keys' order: ``event_id`` first (see ``wire.py``).
    ``queued_at`` is the one field not taken from ``track()``'s input (``DECLARED``).
    """

    event_id: str
    name: str
    occurred_at: str
    telegram_id: int | None = None
    email: str | None = None
    user_id: str | None = None
    visitor_id: str | None = None
    session_id: str | None = None
    miniapp_session_id: str | None = None
    ad_session_id: str | None = None
    value: float | None = None
    currency: str | None = None
    order_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    queued_at: float = 0.0

    def to_json(self) -> str:
        """The wire form (see ``wire.py``): compact, empty fields left out, UTF-8 kept."""
        return _dumps(vars(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        """Parse a queued item; raises ValueError/TypeError/KeyError on a malformed one."""
        return _loads(raw)

    @property
    def occurred(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at)


WIRE = wire.Codec(Event)
_loads, _dumps = WIRE.loads, WIRE.dumps


class EventSchema(ma.Schema):
    """Validation rules of one ``track()`` call (``DECLARED``'s fields); unknown keys are
    errors."""

    class Meta:
        include = {declared.name: declared.field for declared in DECLARED}

    @ma.validates_schema
    def _currency_with_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("value") is not None and not data.get("currency"):
            raise ma.ValidationError("Required when value is given.", "currency")


#: The plain-case checks by field (see ``events._valid_fields``).
FAST: dict[str, checks.Check] = {d.name: d.fast for d in DECLARED if d.fast is not None}


def _check(view: str, has: set[str], wants: set[str]) -> None:
    """A typed view names exactly the declared fields it should (see the module's docstring)."""
    if has != wants:
        missing, extra = sorted(wants - has), sorted(has - wants)
        raise TypeError(f"{view} does not match DECLARED: missing {missing}, extra {extra}")


_check(
    "Event",
    {f.name for f in dataclasses.fields(Event)} - {"queued_at"},
    {d.name for d in DECLARED if d.stored},
)
_check("TrackFields", set(TrackFields.__optional_keys__), {d.name for d in DECLARED} - {"name"})
