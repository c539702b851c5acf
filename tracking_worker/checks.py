"""How one value of an event is checked: a marshmallow field per kind of value (every rule
and error message), and plain-case checks that answer the common cases without marshmallow.

``event_fields.DECLARED`` pairs them, field by field; ``events.normalize`` runs them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields

from .money import CURRENCIES

#: The signed 64-bit range: what every provider (and Redis) can hold as an integer id.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Bad keys reported per object: enough to fix them, bounded however large the input is.
_MAX_KEY_ERRORS = 10


def format_time(moment: datetime) -> str:
    """UTC, milliseconds, explicit offset: the strictest form any provider asks for."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


class StrictInteger(fields.Integer):
    """An int that is really an int: ``True`` and ``"12"`` are errors, not guesses."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return int(value)  # a plain int, not an IntEnum or other subclass


class Number(fields.Float):
    """A finite non-negative number (int, float or Decimal), never a bool or a string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")
        number = super()._deserialize(value, attr, data, **kwargs)
        if number is None or not math.isfinite(number):
            raise ma.ValidationError("Must be a finite number.")
        return number


class IdString(fields.String):
    """An identifier: a string, or an int turned into one (app ids are often ints).

    The int must fit in 64 bits: a larger one is a bug, not an id, and Python refuses to turn
    one of more than 4300 digits into a string (a ValueError, not a validation error).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                raise ma.ValidationError(
                    "An int id must fit in 64 bits (-2**63 to 2**63 - 1); pass a string."
                )
            value = str(value)
        result: str = super()._deserialize(value, attr, data, **kwargs)
        return result


#: A UUID as text, hyphenated (what the Mini App SDK generates), any case.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)


class Uuid(fields.String):
    """A hyphenated UUID kept as lower-case text (TG Analytics refuses any other form)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not _UUID.match(text):
            raise ma.ValidationError("Must be a UUID (8-4-4-4-12 hex digits).")
        return text.lower()


def known_currency(value: str) -> None:
    """Validates a currency code: ISO 4217 (``money.ISO_4217``) or XTR, any case."""
    if value.upper() not in CURRENCIES:
        raise ma.ValidationError(
            "Not a currency code: ISO 4217 (e.g. USD) or XTR (Telegram Stars)."
        )


class AwareDateTime(fields.Field[str]):
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


class JsonObject(fields.Dict):
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


#: A plain-case check: the value its field would give for a plainly valid input, or ``SLOW``.
Check = Callable[[Any], Any]

#: "Not plainly valid: ask the schema's field" (which accepts or names the error).
SLOW: Any = object()


def text(most: int, *, none: bool = True) -> Check:
    """A string field's plain cases: 1 to ``most`` characters (and None unless ``none=False``)."""

    def check(value: Any) -> Any:
        if type(value) is str and 0 < len(value) <= most:
            return value
        return None if none and value is None else SLOW

    return check


def id_text(most: int) -> Check:
    """IdString's plain cases: a short string, or an int inside 64 bits."""

    plain_text = text(most)

    def check(value: Any) -> Any:
        if type(value) is int and INT64_MIN <= value <= INT64_MAX:
            return str(value)
        return plain_text(value)

    return check


def telegram_id(value: Any) -> Any:
    if type(value) is int and 1 <= value <= INT64_MAX:
        return value
    return None if value is None else SLOW


def amount(value: Any) -> Any:
    """Number's plain cases: a finite non-negative float, or an int a float holds exactly."""
    if type(value) is float and 0 <= value < math.inf:
        return value
    if type(value) is int and 0 <= value <= 2**53:
        return float(value)
    return None if value is None else SLOW


def currency(value: Any) -> Any:
    if type(value) is str and value.upper() in CURRENCIES:
        return value
    return None if value is None else SLOW


def uuid_text(value: Any) -> Any:
    """Uuid's plain case: a lower-case hyphenated UUID."""
    if type(value) is str and value.islower() and _UUID.match(value):
        return value
    return None if value is None else SLOW
