"""GramPixel ``POST /v1/events/custom``: one conversion event per request.

Which path: the page's heading reads ``POST /api/v1/events/custom`` and its curl example posts to
``https://api.grampixel.com/v1/events/custom``. We take the example's: it is the page's only whole
URL, so the only one whose path we know is relative to the host we call (``api.grampixel.com``,
our default base URL); the heading is the route as the docs site names it, and a host called
``api.`` serving ``/api/...`` again would be the odd one. The other path answers 404, as the
real router would for a path it does not serve, so an adapter sending it fails here too; the
sandbox's ``path`` setting (one of the two) flips the choice for a user who learns otherwise.

Fields as the page types them: ``event_name`` any string (a standard key or a custom name),
``telegram_id`` integer, ``workspace_id`` UUID, ``session_id`` any string (``gp_a1b2c3`` is the
page's example of a deep-link parameter, not a format), ``value`` a number (the page says
"required for FTD, DEP, Purchase events for ROAS tracking" but types it optional, so an event
without one is taken), ``currency`` an ISO 4217 code, ``user_data`` an object.

Only the success body is documented. Ours: 400 ``{"ok": false, "error": "<message naming the
field>"}`` for a bad body, 401 for a missing or wrong ``x-api-key``, 403 when ``workspace_id``
is well formed but not the key's workspace (a configuration error, like a key), 404 ``{"ok":
false, "error": "Not found"}`` for the path not served.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from .base import Emulator, Incoming, Reply
from .checks import is_int, is_nonempty_str, is_number, is_uuid
from .iso4217 import is_currency

INVALID_KEY: Final = "Invalid API key"
NOT_FOUND: Final = "Not found"
#: The two paths the page shows; the sandbox serves the one its ``path`` setting names.
PATHS: Final = ("/v1/events/custom", "/api/v1/events/custom")
#: Event name -> GramPixel event name of the demo settings.
DEMO_EVENTS: Final = {"purchase": "Purchase", "first_deposit": "FTD", "registration": "REG"}


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"ok": False, "error": message})


def _body_problem(request: Incoming) -> str | None:
    if request.body_error is not None:
        return f"Invalid JSON body: {request.body_error}"
    if isinstance(request.body, list):
        return "Expected one event object per request, not an array"
    if not isinstance(request.body, dict):
        return "Expected a JSON object"
    return None


def _field_problem(event: dict[str, Any]) -> str | None:
    """The first problem with the event's fields, naming the field."""
    if not is_nonempty_str(event.get("event_name")):
        return "event_name is required and must be a string"
    if not is_int(event.get("telegram_id")):
        return "telegram_id is required and must be an integer"
    if not is_uuid(event.get("workspace_id")):
        return "workspace_id is required and must be a UUID"
    return _optional_problem(event)


def _optional_problem(event: dict[str, Any]) -> str | None:
    if "value" in event and not is_number(event["value"]):
        return "value must be a number"
    if "currency" in event and not is_currency(event["currency"]):
        return "currency must be a 3-letter ISO 4217 code"
    if "session_id" in event and not isinstance(event["session_id"], str):
        return "session_id must be a string"
    if "user_data" in event and not isinstance(event["user_data"], dict):
        return "user_data must be an object"
    return None


def _processed(event: dict[str, Any]) -> dict[str, Any]:
    session = event.get("session_id") or f"gp_{uuid.uuid4().hex[:12]}"
    data = {"event_id": f"evt_{uuid.uuid4().hex}", "session_id": session, "status": "processed"}
    return {"ok": True, "data": data}


class GramPixel(Emulator):
    """Emulates GramPixel's custom-event endpoint."""

    #: Provider name, as in the worker's settings.
    name = "grampixel"
    #: Third in PROVIDERS.
    order = 30
    #: Both paths the page shows, trailing slash optional: the one not served answers 404 here,
    #: so the request is recorded as GramPixel's.
    routes = (r"^(?:/api)?/v1/events/custom/?$",)
    #: The API key, the workspace it belongs to and the path served (one of ``PATHS``).
    default_credentials = {
        "api_key": "sandbox-grampixel-key",
        "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90",
        "path": PATHS[0],
    }

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        if request.path.rstrip("/") != str(config["path"]).rstrip("/"):
            return _error(404, NOT_FOUND)
        if request.header("x-api-key") != config["api_key"]:
            return _error(401, INVALID_KEY)
        problem = _body_problem(request) or _field_problem(request.body)
        if problem is not None:
            return _error(400, problem)
        if request.body["workspace_id"].lower() != str(config["workspace_id"]).lower():
            return _error(403, "workspace_id does not belong to this API key")
        return Reply(200, _processed(request.body), items=[request.body])

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        return _error(400, message or f"{field} was rejected")

    def documented_body(self, status: int) -> dict[str, Any] | None:
        return {"ok": False, "error": INVALID_KEY} if status == 401 else None

    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "api_key": credentials["api_key"],
            "workspace_id": credentials["workspace_id"],
            "base_url": base_url,
            "path": credentials["path"],
            "events": dict(DEMO_EVENTS),
        }
