"""VibeTrace ``POST /v1/event/``: ``{"user": {...}, "event": {"<type>": {...}}}``, raw-key auth.

Bodies follow the documented shapes (``{"results": {...}}``, ``{"errors": [{"message",
"description"}]}``). Users listed in ``unknown_users`` (by email or _id) do not exist, which the
doc says is an error. A confirmation whose ``orderId`` was already seen is answered 200 but
discarded, as the doc says the real service does.

What is checked is what the page and its event formats name: a ``user`` with an ``email`` or an
``_id``, an ``event`` with exactly one type key, a confirmation's ``generic.orderId`` spelled so
(case sensitive: ``orderid`` is a missing orderId) as a string or an integer, and its ``items``
a list of ``{"id": string or integer, "quantity": number}``. Any mismatch is a 400 ``{"errors":
[{"message", "description"}]}`` whose description names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .base import Emulator, Incoming, Reply
from .checks import is_int, is_nonempty_str, is_number

EVENT_TYPES: Final = ("confirmation", "generic", "update", "login")
CREATED: Final = {"message": "Event created", "email": "Event was created for the specified user"}
UNAUTHORIZED: Final = {"message": "Unauthorized", "description": "Invalid or missing API key"}
USER_MUST_EXIST: Final = (
    "User not found",
    "Note that user must exist in the database beforehand",
)

Problem = tuple[str, str]


def _errors(status: int, message: str, description: str) -> Reply:
    return Reply(status, {"errors": [{"message": message, "description": description}]})


def _user_problem(body: dict[str, Any]) -> Problem | None:
    user = body.get("user")
    if not isinstance(user, dict):
        return "Missing user information", "Please send user information along with event"
    if not (is_nonempty_str(user.get("email")) or _is_id(user.get("_id"))):
        return "Missing user identifier", "The user object needs an email or an _id"
    return None


def _is_id(value: object) -> bool:
    """An identifier the page leaves untyped: a non-empty string or an integer."""
    return is_nonempty_str(value) or is_int(value)


def _event_problem(body: dict[str, Any]) -> Problem | None:
    event = body.get("event")
    if not isinstance(event, dict) or not event:
        return "Missing event information", "Please send event information along with user"
    if len(event) != 1 or next(iter(event)) not in EVENT_TYPES:
        return "Invalid event", f"The event needs exactly one type key: {', '.join(EVENT_TYPES)}"
    kind, payload = next(iter(event.items()))
    if not isinstance(payload, dict):
        return "Invalid event", f"The {kind} event must be an object"
    if kind == "confirmation":
        return _confirmation_problem(payload)
    if kind == "generic" and not _has_event_name(payload):
        return "Invalid event", "A generic event needs generic.event_name"
    return None


def _has_event_name(payload: dict[str, Any]) -> bool:
    inner = payload.get("generic")
    return isinstance(inner, dict) and is_nonempty_str(inner.get("event_name"))


def _confirmation_problem(payload: dict[str, Any]) -> Problem | None:
    generic = payload.get("generic")
    order_id = generic.get("orderId") if isinstance(generic, dict) else None
    if not _is_id(order_id):
        return "Missing orderId", "A confirmation needs generic.orderId (case sensitive)"
    items = payload.get("items")
    if not isinstance(items, list):
        return "Invalid items", "A confirmation needs items as a list of {id, quantity}"
    for index, item in enumerate(items):
        problem = _order_item_problem(item)
        if problem is not None:
            return "Invalid items", f"items[{index}]: {problem}"
    return None


def _order_item_problem(item: object) -> str | None:
    if not isinstance(item, dict):
        return "an item must be an object {id, quantity}"
    if not _is_id(item.get("id")):
        return "id must be a string or an integer"
    if not is_number(item.get("quantity")):
        return "quantity must be a number"
    return None


def _unknown_user(body: dict[str, Any], unknown: list[Any]) -> bool:
    user = body["user"]
    return user.get("email") in unknown or user.get("_id") in unknown


def _dedupe_key(body: dict[str, Any]) -> str | None:
    confirmation = body["event"].get("confirmation")
    if confirmation is None:
        return None
    return f"orderId:{confirmation['generic']['orderId']}"


class VibeTrace(Emulator):
    """Emulates VibeTrace's (VTmarketing) event endpoint."""

    #: Provider name, as in the worker's settings.
    name = "vibetrace"
    #: Fifth in PROVIDERS.
    order = 50
    #: ``POST /v1/event/``, trailing slash optional.
    routes = (r"^/v1/event/?$",)
    #: The raw API key and users that do not exist (by email or _id).
    default_credentials = {
        "api_key": "sandbox-vibetrace-key",
        "unknown_users": ["unknown@example.test"],
    }

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        if request.header("Authorization") != config["api_key"]:
            return Reply(401, {"errors": [dict(UNAUTHORIZED)]})
        body = request.body
        if request.body_error is not None or not isinstance(body, dict):
            reason = request.body_error or "the body must be a JSON object"
            return _errors(400, "Invalid request", reason)
        problem = _user_problem(body) or _event_problem(body)
        if problem is not None:
            return _errors(400, *problem)
        if _unknown_user(body, config["unknown_users"]):
            return _errors(400, *USER_MUST_EXIST)
        reply = Reply(200, {"results": dict(CREATED)}, items=[body])
        reply.dedupe_key = _dedupe_key(body)
        return reply

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        if field in ("user.email", "user._id"):
            return _errors(400, message or USER_MUST_EXIST[0], USER_MUST_EXIST[1])
        return _errors(400, message or "Invalid value", f"{field} was rejected")

    def documented_body(self, status: int) -> dict[str, Any] | None:
        return {"errors": [dict(UNAUTHORIZED)]} if status == 401 else None

    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        return {"api_key": credentials["api_key"], "base_url": base_url}
