"""Giosg ``POST /api/v5/orgs/<organization_id>/goals/<goal_id>/matches``: one offline goal match.

Statuses and their causes are those giosg documents; bodies follow giosg's Django REST Framework
style (``{"detail": ...}``, and ``{"<field>": ["<message>"]}`` for bad attributes) with giosg's
documented wording. Visitors listed in ``unknown_visitors`` have no session, like an identity
giosg never saw; a match naming none of the ``rooms`` the sandbox knows finds no connected room
for the visitor's session (404, as documented).

``goal_value`` is a decimal (the page's example is the string ``"123.45"``): a string or a JSON
number whose text, as Django REST Framework reads it (``str`` of the parsed value), has at most
two decimal places and no exponent. So ``"123.45"`` and ``10.5`` pass, while
``0.30000000000000004`` (a float's noise), ``"12.345"`` and ``1e+21`` are refused with DRF's
messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from .base import Emulator, Incoming, Reply
from .checks import is_datetime, is_nonempty_str, is_uuid

NOT_AUTHENTICATED: Final = "Authentication credentials were not provided."
INVALID_TOKEN: Final = "Invalid token."
NO_ACCESS: Final = "You do not have access to the organization."
GOAL_NOT_FOUND: Final = "Goal was not found."
NO_SESSION: Final = "No session is found for 'visitor_identity'."
NO_ROOMS: Final = "There is no connected rooms found for visitor session."
_REQUIRED: Final = "This field is required."
NOT_A_NUMBER: Final = "A valid number is required."
TOO_PRECISE: Final = "Ensure that there are no more than 2 decimal places."
#: Event names of the demo settings, matched to the known goals in order.
DEMO_GOALS: Final = ("purchase", "registration")
#: The room the sandbox knows by default (the demo's setting).
DEMO_ROOM: Final = "2c9a1a9e-6d4b-4b7e-9a55-0d5c1f6a2b11"


def _detail(status: int, text: str) -> Reply:
    return Reply(status, {"detail": text})


def _auth_problem(request: Incoming, token: str) -> str | None:
    header = request.header("Authorization")
    if not header:
        return NOT_AUTHENTICATED
    scheme, _, value = header.partition(" ")
    return None if scheme == "Token" and value.strip() == token else INVALID_TOKEN


def _decimal_problem(value: object) -> str | None:
    """Why ``value`` is not a decimal of at most two places, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return NOT_A_NUMBER
    text = value.strip() if isinstance(value, str) else str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return NOT_A_NUMBER
    if not number.is_finite() or "e" in text.lower():
        return NOT_A_NUMBER
    exponent = number.as_tuple().exponent
    return TOO_PRECISE if isinstance(exponent, int) and exponent < -2 else None


def _is_rooms(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(map(is_uuid, value))


def _attribute_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    checks = (
        ("visitor_identity", is_nonempty_str, "Must be a non-empty string."),
        ("goal_matched_at", is_datetime, "Datetime has wrong format; use ISO 8601."),
        ("rooms", _is_rooms, "Must be a non-empty array of room UUIDs."),
    )
    for name, check, message in checks:
        if name not in body:
            errors[name] = [_REQUIRED]
        elif not check(body[name]):
            errors[name] = [message]
    value = body.get("goal_value")
    problem = None if value is None else _decimal_problem(value)
    if problem is not None:
        errors["goal_value"] = [problem]
    return errors


def _connected(rooms: list[str], known: list[str]) -> bool:
    """Whether any room of the match is one the sandbox knows (UUIDs compare case-blind)."""
    return bool({room.lower() for room in rooms} & {room.lower() for room in known})


def _match(request: Incoming) -> dict[str, Any]:
    body = request.body
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": str(uuid.uuid4()),
        "organization_id": request.params["organization_id"],
        "goal_id": request.params["goal_id"],
        "visitor_identity": body["visitor_identity"],
        "goal_matched_at": body["goal_matched_at"],
        "goal_value": body.get("goal_value"),
        "rooms": body["rooms"],
        "created_at": now,
    }


class Giosg(Emulator):
    """Emulates giosg's External Goal Match API."""

    #: Provider name, as in the worker's settings.
    name = "giosg"
    #: Fourth in PROVIDERS.
    order = 40
    #: ``POST /api/v5/orgs/<organization_id>/goals/<goal_id>/matches``, trailing slash optional.
    routes = (r"^/api/v5/orgs/(?P<organization_id>[^/]+)/goals/(?P<goal_id>[^/]+)/matches/?$",)
    #: The token, its organization, the goals that exist, visitors without a session and the
    #: rooms connected to visitors' sessions.
    default_credentials = {
        "token": "sandbox-giosg-token",
        "organization_id": "ac83d426-be80-4d75-8c62-49a77f98468e",
        "goals": ["4d0648b8-9074-11e6-963e-f45c89c72de3", "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f"],
        "unknown_visitors": ["unknown-visitor"],
        "rooms": [DEMO_ROOM],
    }

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        auth = _auth_problem(request, config["token"])
        if auth is not None:
            return _detail(401, auth)
        if request.params["organization_id"].lower() != config["organization_id"].lower():
            return _detail(403, NO_ACCESS)
        if request.params["goal_id"].lower() not in {g.lower() for g in config["goals"]}:
            return _detail(404, GOAL_NOT_FOUND)
        if request.body_error is not None or not isinstance(request.body, dict):
            reason = request.body_error or "expected a JSON object"
            return _detail(400, f"The request payload is in wrong format: {reason}")
        errors = _attribute_errors(request.body)
        if errors:
            return Reply(400, errors)
        if request.body["visitor_identity"] in config["unknown_visitors"]:
            return _detail(404, NO_SESSION)
        if not _connected(request.body["rooms"], config["rooms"]):
            return _detail(404, NO_ROOMS)
        return Reply(200, _match(request), items=[request.body])

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        if field == "visitor_identity":
            return _detail(404, message or NO_SESSION)
        if field == "rooms":
            return _detail(404, message or NO_ROOMS)
        return Reply(400, {field: [message or "Invalid value."]})

    def documented_body(self, status: int) -> dict[str, Any] | None:
        documented = {401: INVALID_TOKEN, 403: NO_ACCESS, 404: GOAL_NOT_FOUND}
        return {"detail": documented[status]} if status in documented else None

    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """The demo's goals are the first ones the sandbox knows, its rooms all it knows."""
        return {
            "token": credentials["token"],
            "organization_id": credentials["organization_id"],
            "base_url": base_url,
            "goals": dict(zip(DEMO_GOALS, credentials["goals"], strict=False)),
            "rooms": list(credentials["rooms"]),
        }
