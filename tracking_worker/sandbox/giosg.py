"""Giosg ``POST /api/v5/orgs/<organization_id>/goals/<goal_id>/matches``: one offline goal match.

Statuses and their causes are those giosg documents; bodies follow giosg's Django REST Framework
style (``{"detail": ...}``, and ``{"<field>": ["<message>"]}`` for bad attributes) with giosg's
documented wording. Visitors listed in ``unknown_visitors`` have no session, like an identity
giosg never saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

from .base import Emulator, Incoming, Reply
from .checks import is_datetime, is_nonempty_str, is_number, is_uuid

NOT_AUTHENTICATED: Final = "Authentication credentials were not provided."
INVALID_TOKEN: Final = "Invalid token."
NO_ACCESS: Final = "You do not have access to the organization."
GOAL_NOT_FOUND: Final = "Goal was not found."
NO_SESSION: Final = "No session is found for 'visitor_identity'."
NO_ROOMS: Final = "There is no connected rooms found for visitor session."
_REQUIRED: Final = "This field is required."
#: Event names of the demo settings, matched to the known goals in order.
DEMO_GOALS: Final = ("purchase", "registration")
#: The room of the demo settings; the sandbox takes any room UUID.
DEMO_ROOM: Final = "2c9a1a9e-6d4b-4b7e-9a55-0d5c1f6a2b11"


def _detail(status: int, text: str) -> Reply:
    return Reply(status, {"detail": text})


def _auth_problem(request: Incoming, token: str) -> str | None:
    header = request.header("Authorization")
    if not header:
        return NOT_AUTHENTICATED
    scheme, _, value = header.partition(" ")
    return None if scheme == "Token" and value.strip() == token else INVALID_TOKEN


def _is_decimal(value: object) -> bool:
    if isinstance(value, str):
        try:
            return is_number(float(value))
        except ValueError:
            return False
    return is_number(value)


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
    if body.get("goal_value") is not None and not _is_decimal(body["goal_value"]):
        errors["goal_value"] = ["A valid number is required."]
    return errors


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
    #: The token, its organization, the goals that exist and visitors without a session.
    default_credentials = {
        "token": "sandbox-giosg-token",
        "organization_id": "ac83d426-be80-4d75-8c62-49a77f98468e",
        "goals": ["4d0648b8-9074-11e6-963e-f45c89c72de3", "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f"],
        "unknown_visitors": ["unknown-visitor"],
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
        """The demo's goals are the first ones the sandbox knows; any room UUID will do."""
        return {
            "token": credentials["token"],
            "organization_id": credentials["organization_id"],
            "base_url": base_url,
            "goals": dict(zip(DEMO_GOALS, credentials["goals"], strict=False)),
            "rooms": [DEMO_ROOM],
        }
