"""A person's identifiers as the suppression list keeps them: hashed, never plain.

Each identifier becomes a member: its kind's code and a BLAKE2b hash of the kind and the value
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

from collections.abc import Iterable, Mapping
from hashlib import blake2b

from .errors import ValidationError
from .events import Event

#: Each kind of identifier a person is suppressed by (as ``track()`` names it) and its code,
#: a member's first byte.
CODES = {"telegram_id": b"t", "email": b"e", "user_id": b"u", "visitor_id": b"v"}
KINDS = tuple(CODES)
#: A member: its kind's code and 8 bytes of hash. Among a million people on the list, an event
#: is taken for a suppressed one by chance about once in 10^13; 9 bytes instead of a
#: 40-character text keep track_many()'s payload within a few percent.
MEMBER_BYTES = 9
#: Per kind, a hash state with the kind's name already in it, copied for each identifier and
#: never changed itself: a third cheaper than a new hash per identifier (track() pays this).
_STATES = {
    kind: blake2b(f"{kind}\0".encode(), digest_size=8, person=b"tw-suppress") for kind in CODES
}


_TELEGRAM, _EMAIL, _USER, _VISITOR = (_STATES[kind] for kind in CODES)


def member(kind: str, value: str) -> bytes:
    """One identifier as stored: its kind's code and the hash of kind and (normalized) value."""
    state = _STATES[kind].copy()
    state.update((value.strip().lower() if kind == "email" else value).encode())
    return CODES[kind] + state.digest()


def shown(stored: bytes) -> str:
    """A member as people read it: ``<kind>:<16 hex digits>``, never the value."""
    kind = next((k for k, code in CODES.items() if code == stored[:1]), "?")
    return f"{kind}:{stored[1:].hex()}"


def event_members(event: Event) -> bytes:
    """The event's identifiers as enqueue.lua looks them up: members end to end (b"" for an
    event that names nobody). Computed once per event, whatever the providers: ``member``
    written out, as every tracked event pays for it (0.7 µs for two identifiers)."""
    found = b""
    if event.telegram_id is not None:
        state = _TELEGRAM.copy()
        state.update(b"%d" % event.telegram_id)
        found = b"t" + state.digest()
    if value := event.email:
        state = _EMAIL.copy()
        state.update(value.strip().lower().encode())
        found += b"e" + state.digest()
    if value := event.user_id:
        state = _USER.copy()
        state.update(value.encode())
        found += b"u" + state.digest()
    if value := event.visitor_id:
        state = _VISITOR.copy()
        state.update(value.encode())
        found += b"v" + state.digest()
    return found


def given_members(identifiers: Mapping[str, object]) -> list[bytes]:
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


def each_members(identifiers: Mapping[str, Iterable[object]]) -> list[bytes]:
    """The members of several values per kind (``forget --suppress``): each value as
    ``given_members`` takes one."""
    return [
        found
        for kind, values in identifiers.items()
        for value in values
        for found in given_members({kind: value})
    ]


def _text(kind: str, value: object) -> str | None:
    """The identifier as track() stores it: an int telegram id, any other id as text."""
    if kind == "telegram_id":
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if isinstance(value, str) and value.strip().isdigit():
            return str(int(value))
        return str(value) if ok else None
    text = str(value).strip() if kind == "email" else str(value)
    return text or None
