"""Faults (canned answers that replace a provider's) and rejection rules, as plain values."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Reply
from .checks import MISSING, is_int, is_number, lookup


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
    headers: Mapping[str, str] | None = None,
) -> Fault:
    """Validate fault arguments (they may come from JSON) and build the ``Fault``."""
    seconds = _duration(duration)
    return Fault(
        status=_status(status),
        body=body,
        count=_count(count),
        until=None if seconds is None else time.monotonic() + seconds,
        retry_after=_retry_after(retry_after),
        headers={str(k): str(v) for k, v in (headers or {}).items()},
    )


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
    if value is None or is_int(value) or isinstance(value, str):
        return value
    raise ValueError(f"retry_after must be whole seconds or an HTTP date, not {value!r}")


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
