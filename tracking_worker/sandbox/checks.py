"""Small type and format checks shared by the provider emulators."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Final, TypeGuard

MISSING: Final = object()
#: Deepest nesting of arrays and objects a request body may have; real payloads use under 10.
MAX_DEPTH: Final = 100
_TOO_DEEP: Final = f"the request body is not valid JSON: nested deeper than {MAX_DEPTH} levels"

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
    """``(value, None)`` for a JSON body, ``(None, reason)`` when it is empty or not JSON.

    A body nested deeper than ``MAX_DEPTH`` counts as not JSON: ``json`` would raise
    ``RecursionError`` on a very deep one, and copying or answering a merely deep one would.
    """
    if not raw.strip():
        return None, "the request body is empty"
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the request body is not valid JSON: {exc}"
    except RecursionError:
        return None, _TOO_DEEP
    if _deeper_than(value, MAX_DEPTH, raw):
        return None, _TOO_DEEP
    return value, None


def _deeper_than(value: Any, limit: int, raw: bytes) -> bool:
    """True if arrays and objects nest more than ``limit`` deep; walked without recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep: most bodies stop here
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
    return False
