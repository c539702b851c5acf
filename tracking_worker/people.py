"""A person's identifiers as the suppression list keeps them: hashed, never plain.

Each identifier becomes ``<kind>:<32 hex digits>``, a BLAKE2b hash of the kind and the value
under a fixed personalisation (``tw-suppress``), not a key from settings. Every process that
enqueues (each web app, ``tracking-worker import``, a spool drain) must hash alike, and a key
that differed between two of them would let a suppressed person's events through without a
word; nor could a key be rotated without losing the list. So the list is pseudonymous, not
anonymous: it keeps identifiers out of dumps, ``suppress list`` and logs, but whoever holds the
Redis data and this code can test a guessed identifier against it (a Telegram id has few enough
values to try them all). E-mails are matched case-insensitively after trimming, as ``forget``
matches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import blake2b

from .errors import ValidationError
from .events import Event

#: The identifiers a person is suppressed by, as ``track()`` names them.
KINDS = ("telegram_id", "email", "user_id", "visitor_id")
_PERSON = b"tw-suppress"


def member(kind: str, value: str) -> str:
    """One identifier as stored: its kind and the hash of kind and (normalized) value."""
    data = f"{kind}\0{value.strip().lower() if kind == 'email' else value}".encode()
    return f"{kind}:{blake2b(data, digest_size=16, person=_PERSON).hexdigest()}"


def event_members(event: Event) -> str:
    """The event's identifiers as enqueue.lua looks them up: members joined by commas ("" for
    an event that names nobody). Computed once per event, whatever the providers."""
    parts = []
    if event.telegram_id is not None:
        parts.append(member("telegram_id", str(event.telegram_id)))
    if event.email:
        parts.append(member("email", event.email))
    if event.user_id:
        parts.append(member("user_id", event.user_id))
    if event.visitor_id:
        parts.append(member("visitor_id", event.visitor_id))
    return ",".join(parts)


def given_members(identifiers: Mapping[str, object]) -> list[str]:
    """The members of the identifiers a caller of ``suppress()`` gave (None: not given), in
    ``KINDS`` order; ValidationError naming each bad one, or when none is given."""
    errors: dict[str, list[str]] = {}
    found = []
    for kind in KINDS:
        value = identifiers.get(kind)
        if value is None:
            continue
        text = _text(kind, value)
        if text is None:
            errors[kind] = ["Must be a positive integer." if kind == "telegram_id" else "Empty."]
            continue
        found.append(member(kind, text))
    if errors:
        raise ValidationError(errors)
    if not found:
        raise ValidationError({"person": [f"Give at least one of {', '.join(KINDS)}."]})
    return found


def _text(kind: str, value: object) -> str | None:
    """The identifier as track() stores it: an int telegram id, any other id as text."""
    if kind == "telegram_id":
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if isinstance(value, str) and value.strip().isdigit():
            return str(int(value))
        return str(value) if ok else None
    text = str(value).strip() if kind == "email" else str(value)
    return text or None
