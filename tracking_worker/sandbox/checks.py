"""Small type and format checks shared by the provider emulators."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Final, TypeGuard

MISSING: Final = object()

_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ISO_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?$"
)


def is_int(value: object) -> TypeGuard[int]:
    """True for JSON integers; ``bool`` is an ``int`` in Python but not in JSON."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """True for finite JSON numbers."""
    if isinstance(value, float):
        return math.isfinite(value)
    return is_int(value)


def is_uuid(value: object) -> bool:
    """True for a UUID in its canonical 8-4-4-4-12 text form."""
    return isinstance(value, str) and _UUID.match(value) is not None


def is_nonempty_str(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.strip() != ""


def is_datetime(value: object) -> bool:
    """True for an ISO 8601 date-time (offset optional) that names a real calendar moment."""
    match = _ISO_DATETIME.match(value) if isinstance(value, str) else None
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def lookup(item: object, dotted: str) -> Any:
    """The value at ``dotted`` (``"user.email"``) inside nested objects, or ``MISSING``."""
    current: Any = item
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """``(value, None)`` for a JSON body, ``(None, reason)`` when it is empty or not JSON."""
    if not raw.strip():
        return None, "the request body is empty"
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the request body is not valid JSON: {exc}"
