"""Graspil ``POST /v1/send-target``: goal completions, one object or an array of 1 to 100.

Errors use Graspil's documented shape ``{"ok": false, "error": {"<field>": ["<message>"]}}``; its
status codes are not documented, so 400 (validation) and 401 (key) are ours. One bad item
rejects the whole request, as the real API does for its request-time checks.

The goals a bot has are the sandbox's ``targets`` setting: a ``target_id`` not among them is
answered with the documented ``{"target_id": ["Unknown target_id"]}``. ``date`` must carry
milliseconds and an offset, as the page's text requires (its own examples,
``2023-12-31T20:00:00+01:00``, have no milliseconds: we follow the rule, not the example).
``unit`` is any string of 1 to 3 characters, so Telegram Stars' ``XTR`` passes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .base import Emulator, Incoming, Reply
from .checks import is_datetime, is_int, is_number

MAX_ITEMS: Final = 100
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:Z|[+-]\d{2}:\d{2})$")
_REQUIRED: Final = "This field is required"
_DATE_FORMAT: Final = (
    "Invalid date: RFC 3339 with milliseconds and a timezone is required, "
    "e.g. 2024-08-03T20:00:00.123+02:00"
)
_BATCH_SIZE: Final = f"From 1 to {MAX_ITEMS} events per request"
# Messages Graspil's documentation gives for checks done after a request is accepted
# (reject_matching).
_DOCUMENTED: Final = {
    "target_id": "Unknown target_id",
    "user_id": "The user with this id was not found",
}

#: Event name -> target_id of the demo settings, the targets the sandbox knows by default.
DEMO_TARGETS: Final = {"purchase": 12, "registration": 3, "first_deposit": 14}
UNKNOWN_TARGET: Final = _DOCUMENTED["target_id"]

Errors = dict[str, list[str]]


def _error(status: int, errors: Errors) -> Reply:
    return Reply(status, {"ok": False, "error": errors})


def _add(errors: Errors, field: str, message: str) -> None:
    messages = errors.setdefault(field, [])
    if message not in messages:
        messages.append(message)


def _is_date(value: object) -> bool:
    return isinstance(value, str) and _DATE.match(value) is not None and is_datetime(value)


def _check_item(item: object, errors: Errors, targets: list[int]) -> None:
    if not isinstance(item, dict):
        _add(errors, "body", "Each event must be a JSON object")
        return
    for name in ("target_id", "user_id"):
        if name not in item:
            _add(errors, name, _REQUIRED)
        elif not is_int(item[name]):
            _add(errors, name, "Must be an integer")
    if is_int(item.get("target_id")) and item["target_id"] not in targets:
        _add(errors, "target_id", UNKNOWN_TARGET)
    if "date" in item and not _is_date(item["date"]):
        _add(errors, "date", _DATE_FORMAT)
    _check_value(item, errors)


def _check_value(item: dict[str, Any], errors: Errors) -> None:
    if "value" in item and not is_number(item["value"]):
        _add(errors, "value", "Must be a number")
    if "unit" in item:
        unit = item["unit"]
        if not isinstance(unit, str) or not 1 <= len(unit) <= 3:
            _add(errors, "unit", "Must be a string of at most 3 characters")
    elif "value" in item:
        _add(errors, "unit", "Required when value is present")


def _items(request: Incoming) -> tuple[list[Any], str | None]:
    if request.body_error is not None:
        return [], "Invalid JSON"
    body = request.body
    if isinstance(body, dict):
        return [body], None
    if not isinstance(body, list):
        return [], "Expected an event object or an array of event objects"
    if not 1 <= len(body) <= MAX_ITEMS:
        return [], _BATCH_SIZE
    return body, None


class Graspil(Emulator):
    """Emulates Graspil's send-target endpoint."""

    #: Provider name, as in the worker's settings.
    name = "graspil"
    #: First in PROVIDERS.
    order = 10
    #: ``POST /v1/send-target``, trailing slash optional.
    routes = (r"^/v1/send-target/?$",)
    #: The API key the sandbox accepts and the bot's goals (target ids) it knows.
    default_credentials = {"api_key": "sandbox-graspil-key", "targets": list(DEMO_TARGETS.values())}

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        if request.header("Api-Key") != config["api_key"]:
            return _error(401, {"api_key": ["Invalid API key"]})
        items, problem = _items(request)
        if problem is not None:
            return _error(400, {"body": [problem]})
        errors: Errors = {}
        for item in items:
            _check_item(item, errors, config["targets"])
        if errors:
            return _error(400, errors)
        return Reply(200, {"ok": True}, items=list(items))

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        default = _DOCUMENTED.get(field, _DOCUMENTED["user_id"])
        return _error(400, {field: [message or default]})

    def documented_body(self, status: int) -> dict[str, Any] | None:
        if status == 401:
            return {"ok": False, "error": {"api_key": ["Invalid API key"]}}
        return None

    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "api_key": credentials["api_key"],
            "base_url": base_url,
            "targets": dict(zip(DEMO_TARGETS, credentials["targets"], strict=False)),
        }
