"""Checks of the values a provider's API types, for ``Provider.check_event``: each returns the
problem with one value (None when it is fine), ``errors`` names each by its path
(``context.is_premium``, ``properties.items.0.quantity``). A None value passes: providers leave
it out of the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

#: The problem with a value, or None.
Check = Callable[[Any], "str | None"]
#: Problems of a nested value by its path below the checked one ("0.quantity").
Nested = Callable[[Any], "dict[str, str]"]


def boolean(value: Any) -> str | None:
    return None if value is None or type(value) is bool else "Must be a boolean."


def string(value: Any) -> str | None:
    return None if value is None or type(value) is str else "Must be a string."


def number(value: Any) -> str | None:
    if value is None or (type(value) is int) or (type(value) is float and math.isfinite(value)):
        return None
    return "Must be a number."


def one_of(*allowed: Any) -> Check:
    """Exactly one of ``allowed`` (``True`` is not ``1``)."""
    shown = ", ".join(map(repr, allowed))

    def check(value: Any) -> str | None:
        if value is None or any(type(value) is type(a) and value == a for a in allowed):
            return None
        return f"Must be one of {shown}."

    return check


def positive_int(value: Any) -> str | None:
    if value is None or (type(value) is int and value >= 1):
        return None
    return "Must be a whole number of at least 1."


def identifier(value: Any) -> str | None:
    if value is None or (type(value) is str and value) or type(value) is int:
        return None
    return "Must be a non-empty string or an int."


def list_of(fields: Mapping[str, Check], *, required: tuple[str, ...] = ()) -> Nested:
    """A list of objects whose keys in ``fields`` pass their checks; ``required`` keys present.
    Its problems by path (``0.quantity``); a value that is no list is one at ``""``."""

    def check(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, list):
            return {"": "Must be a list of objects."}
        found: dict[str, str] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                found[str(index)] = "Must be an object."
                continue
            for key in required:
                if item.get(key) is None:
                    found[f"{index}.{key}"] = "Missing."
            for key, field_check in fields.items():
                problem = field_check(item.get(key))
                if problem:
                    found[f"{index}.{key}"] = problem
        return found

    return check


def errors(
    prefix: str, values: Mapping[str, Any], checks: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Each problem of ``values``' keys that ``checks`` types, as ``{"<prefix>.<key>": [msg]}``;
    a check is a ``Check`` or a ``Nested`` one (a dict of problems by sub-path)."""
    found: dict[str, list[str]] = {}
    for key, value in values.items():
        check = checks.get(key)
        if check is None:
            continue
        problem = check(value)
        if isinstance(problem, dict):
            for sub, message in problem.items():
                found[f"{prefix}.{key}.{sub}" if sub else f"{prefix}.{key}"] = [message]
        elif problem:
            found[f"{prefix}.{key}"] = [problem]
    return found
