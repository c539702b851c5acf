"""Faults (canned answers that replace a provider's) and rejection rules, as plain values."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .base import Reply
from .checks import MISSING, is_int, is_number, lookup

#: Longest latency one may inject: a test waiting longer has a bug, and a stop cuts it short.
MAX_LATENCY: Final = 600.0
# RFC 9110 token: what a header name may hold.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The server frames every answer itself; a second length or encoding would desync the client.
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})
# Control characters other than tab, which no header line may hold.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class Fault:
    """Answer ``status``/``body`` instead of the emulator, ``count`` times and/or until ``until``.

    ``count`` None means no limit by number, ``until`` (a ``time.monotonic()`` deadline) None
    means no limit in time; with neither the fault lasts until reset. Status 0 drops the
    connection without an answer.
    """

    status: int
    body: Any
    count: int | None = None
    until: float | None = None
    retry_after: int | str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def active(self, now: float) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        return self.until is None or now < self.until

    def consume(self) -> None:
        if self.count is not None:
            self.count -= 1

    def reply(self) -> Reply:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return Reply(self.status, self.body, headers)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view; the deadline is shown as seconds left, which is what people read."""
        left = None if self.until is None else max(0.0, self.until - time.monotonic())
        return {
            "status": self.status,
            "body": self.body,
            "count": self.count,
            "seconds_left": left,
            "retry_after": self.retry_after,
            "headers": dict(self.headers),
        }


def make_fault(
    status: object,
    body: Any,
    *,
    count: object = None,
    duration: object = None,
    retry_after: object = None,
    headers: object = None,
) -> Fault:
    """Validate fault arguments (they may come from JSON) and build the ``Fault``.

    Header names and values end up verbatim in an answer, so one holding CR or LF could inject
    headers or a whole answer: refused, like anything ``http.server`` cannot send (non-Latin-1).
    """
    seconds = _duration(duration)
    return Fault(
        status=_status(status),
        body=_body(body),
        count=_count(count),
        until=None if seconds is None else time.monotonic() + seconds,
        retry_after=_retry_after(retry_after),
        headers=_headers(headers),
    )


def latency_seconds(value: object) -> float:
    """``value`` as a latency: a finite number of seconds from 0 to ``MAX_LATENCY``."""
    if is_number(value) and 0 <= value <= MAX_LATENCY:
        return float(value)
    raise ValueError(f"seconds must be a number from 0 to {MAX_LATENCY:g}, not {value!r}")


def _status(value: object) -> int:
    if is_int(value) and (value == 0 or 100 <= value <= 599):
        return value
    raise ValueError(f"status must be 0 or an HTTP status 100-599, not {value!r}")


def _count(value: object) -> int | None:
    if value is None or (is_int(value) and value >= 1):
        return value
    raise ValueError(f"count must be a positive integer, not {value!r}")


def _duration(value: object) -> float | None:
    if value is None:
        return None
    if is_number(value) and value > 0:
        return float(value)
    raise ValueError(f"duration must be a positive number of seconds, not {value!r}")


def _retry_after(value: object) -> int | str | None:
    if value is None or is_int(value):
        return value
    if isinstance(value, str):
        return _header_text("retry_after", value)
    raise ValueError(f"retry_after must be whole seconds or an HTTP date, not {value!r}")


def _body(value: Any) -> Any:
    """``value`` if the server can send it as JSON (from Python it could be anything)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"body must be JSON-serializable: {exc}") from None
    return value


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"headers must be an object of header names to values, not {value!r}")
    checked: dict[str, str] = {}
    for raw_name, text in value.items():
        name = _header_text("headers: a name", str(raw_name))
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"headers: {name!r} is not a valid header name")
        if name.lower() in _FRAMING:
            raise ValueError(f"headers: {name} is set by the sandbox itself")
        checked[name] = _header_text(f"headers: the value of {name}", str(text))
    return checked


def _header_text(field: str, text: str) -> str:
    """``text`` if it can go in a header line as it is, else ``ValueError`` naming ``field``."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"{field} must not hold CR or LF: {text!r}")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{field} must be Latin-1 text, as HTTP headers are: {text!r}") from None
    if _CONTROL.search(text):
        raise ValueError(f"{field} must not hold control characters: {text!r}")
    return text


@dataclass(frozen=True)
class Rule:
    """Reject any request holding an item whose ``field`` (dotted path) equals ``value``."""

    field: str
    value: Any
    message: str | None = None

    def first_match(self, items: list[Any]) -> int | None:
        """Index of the first matching item, or None."""
        for index, item in enumerate(items):
            found = lookup(item, self.field)
            if found is not MISSING and found == self.value:
                return index
        return None
