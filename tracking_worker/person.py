"""Who a privacy request is about: the identifiers given, and which events are that person's.

An event is the person's when any identifier given matches the event's own top-level field:
``telegram_id`` (a number), ``user_id`` and ``visitor_id`` (exact text: ``track()`` keeps an
int user id as its digits), ``email`` compared after trimming and with its ASCII letters in
lower case on both sides. Only ASCII letters are folded, as the Lua scripts fold them
(``string.lower`` of Redis's Lua knows no other), so that Redis and the files on this host
agree on every match: ``Ann@Example.com`` is ``ann@example.com``, ``Ä@x.io`` is not ``ä@x.io``.

``needles`` is the same person as the Lua scripts take it (``store/lua/forget_lib.lua``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PersonError

#: What the scripts' ``%s`` and Python's ``strip`` both call white space.
_SPACE = " \t\n\v\f\r"
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: A Telegram id, as the text of a JSON number, followed by no further digit of it.
_NUMBER_GOES_ON = re.compile(r"[0-9.eE]")
FIELDS = ("telegram_id", "email", "user_id", "visitor_id")


def fold_email(text: str) -> str:
    """An e-mail as it is compared: trimmed, its ASCII letters in lower case."""
    return text.strip(_SPACE).translate(_ASCII_UPPER)


@dataclass(frozen=True)
class Person:
    """The identifiers of one person; an event holding any of them is theirs."""

    telegram_ids: tuple[int, ...] = ()
    #: Folded (``fold_email``).
    emails: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    visitor_ids: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        telegram_id: int | Iterable[int] | None = None,
        email: str | Iterable[str] | None = None,
        user_id: str | int | Iterable[str | int] | None = None,
        visitor_id: str | Iterable[str] | None = None,
    ) -> Person:
        """The person these identifiers name (each a value or several); raises PersonError
        when none is given, or one no event could hold (a Telegram id below 1, empty text)."""
        person = cls(
            tuple(_telegram_id(v) for v in _many(telegram_id)),
            tuple(_text("email", fold_email(str(v))) for v in _many(email)),
            tuple(_text("user_id", str(v)) for v in _many(user_id)),
            tuple(_text("visitor_id", str(v)) for v in _many(visitor_id)),
        )
        if not person.identifiers():
            raise PersonError(f"give at least one of {', '.join(FIELDS)}")
        return person

    def identifiers(self) -> list[tuple[str, str | int]]:
        """(field, value) of every identifier, in ``FIELDS`` order."""
        return [
            *(("telegram_id", v) for v in self.telegram_ids),
            *(("email", v) for v in self.emails),
            *(("user_id", v) for v in self.user_ids),
            *(("visitor_id", v) for v in self.visitor_ids),
        ]

    def needles(self) -> tuple[str, ...]:
        """The scripts' form: (field, value, the value as the event's JSON writes it) triples,
        flat (see forget_lib.lua)."""
        return tuple(
            part
            for field, value in self.identifiers()
            for part in (field, str(value), json.dumps(value, ensure_ascii=False))
        )

    def owns(self, event: Mapping[str, Any]) -> bool:
        """Whether a decoded event is this person's (its own fields, never nested ones)."""
        telegram_id = event.get("telegram_id")
        if type(telegram_id) is int and telegram_id in self.telegram_ids:
            return True
        email = event.get("email")
        if isinstance(email, str) and fold_email(email) in self.emails:
            return True
        return event.get("user_id") in self.user_ids or event.get("visitor_id") in self.visitor_ids

    def written_in(self, text: str) -> bool:
        """Whether text that does not parse (a line cut short, a quarantined line) holds one
        of the identifiers as an event field: ``"email":"ann@x.io"`` and so on, in the JSON
        of an event (UTF-8 kept) or of a spool line (``\\u`` escapes)."""
        lowered = text.translate(_ASCII_UPPER)
        for field, value in self.identifiers():
            if field == "telegram_id":
                if _number_field(text, field, str(value)):
                    return True
                continue
            haystack = lowered if field == "email" else text
            for ascii_only in (False, True):
                if f'"{field}":{json.dumps(value, ensure_ascii=ascii_only)}' in haystack:
                    return True
        return False


def _number_field(text: str, field: str, digits: str) -> bool:
    needle = f'"{field}":{digits}'
    start = text.find(needle)
    while start >= 0:
        end = start + len(needle)
        if end == len(text) or not _NUMBER_GOES_ON.match(text, end):
            return True
        start = text.find(needle, start + 1)
    return False


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, int)):
        return [value]
    return list(value)


def _telegram_id(value: Any) -> int:
    if type(value) is not int or value < 1:
        raise PersonError(f"telegram_id must be a whole number above 0, not {value!r}")
    return value


def _text(field: str, value: str) -> str:
    if not value.strip(_SPACE):
        raise PersonError(f"{field} must not be empty")
    return value
