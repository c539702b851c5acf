"""Giosg: external (offline) goal matches for a visitor the website already identified.

One match per request to ``POST /api/v5/orgs/<org>/goals/<goal>/matches`` with
``Authorization: Token …``. Giosg answers 404 both for an unknown goal (our config is wrong) and
for a visitor without a session (the visitor never identified): the two get distinct reasons so
the dead letters tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from ..events import Event
from ..money import ISO_CODES, TELEGRAM_STARS, decimal_text
from ..outcomes import Configuration, Credentials, Delivered, NotYet, Outcome, Reject, Retry
from ..sections import checked
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    UuidText,
    messages_text,
    provider_url,
    settings_schema,
    single_token,
    transient,
)

NO_VISITOR_SESSION = "no_visitor_session"
GOAL_NOT_FOUND = "goal_not_found"
# Words of giosg's 404 for "no session for visitor_identity" / "no connected rooms for session".
_SESSION_WORDS = ("session", "visitor", "room")


@dataclass(frozen=True, kw_only=True)
class GiosgSettings(ProviderSettings):
    token: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    organization_id: str = field(metadata=checked(UuidText(required=True)))
    #: normalized event name -> giosg goal UUID
    goals: Mapping[str, str] = field(
        metadata=checked(fields.Dict(keys=fields.String(), values=UuidText(), required=True))
    )
    #: rooms where the goals match; giosg requires at least one
    rooms: Sequence[str] = field(
        metadata=checked(fields.List(UuidText(), required=True, validate=validate.Length(min=1)))
    )
    base_url: str = provider_url("https://service.giosg.com")


class Giosg(Provider):
    name = "giosg"
    order = 40
    schema = settings_schema(GiosgSettings)
    settings: GiosgSettings
    secret_keys = ("token",)
    #: ``goal_value`` is a decimal with no currency field: a money amount in the account's
    #: currency. Telegram Stars are not money it can hold, so an event valued in XTR is skipped.
    currencies = ISO_CODES

    def skip_reason(self, event: Event) -> str | None:
        if event.name not in self.settings.goals:
            return "no goal configured for this event name"
        if event.visitor_id is None:
            return "no visitor_id (giosg visitor_identity)"
        if event.value is not None and event.currency not in self.currencies:
            stars = " (Telegram Stars)" if event.currency == TELEGRAM_STARS else ""
            return f"currency {event.currency}{stars}: giosg's goal_value holds money only"
        return None

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        (event,) = events  # one match per request
        org, goal = self.settings.organization_id, self.settings.goals[event.name]
        body: dict[str, Any] = {
            "visitor_identity": event.visitor_id,
            "goal_matched_at": event.occurred_at,
            "rooms": list(self.settings.rooms),
        }
        if event.value is not None:
            # The document's decimal string ("123.45"), never a float's repr.
            body["goal_value"] = decimal_text(event.value, 2)
        return HttpRequest(
            "POST",
            f"{self.base_url}/api/v5/orgs/{org}/goals/{goal}/matches",
            {"Authorization": f"Token {self.settings.token}", "Content-Type": "application/json"},
            body,
        )

    # Classification (giosg's Goals / External Goal Match API page):
    # | answer                                     | outcome                                  |
    # |--------------------------------------------|------------------------------------------|
    # | 2xx                                        | Delivered                                |
    # | 429 / 408 / 5xx / network error            | Retry (429 throttles)                    |
    # | 401 invalid token, 403 no access           | Credentials: provider paused             |
    # | 404 goal not found (the goal in the URL)   | Configuration(goals), per route          |
    # | 404 no connected rooms for the session     | Configuration(rooms): provider paused    |
    # | 404 no session for visitor_identity        | NotYet: delivery.not_yet_delays, dead    |
    # | other 4xx (missing or bad attributes)      | Reject                                   |
    def classify(self, response: HttpResponse) -> Outcome:
        common = transient(response)
        if common is not None:
            return common
        status = response.status
        if 200 <= status < 300:
            return Delivered()
        reason = _reason(response)
        if status in (401, 403):
            return Credentials(f"giosg refused the token or access ({status}): {reason}", status)
        if status == 404:
            return _not_found(reason, response)
        if 400 <= status < 500:
            return Reject(f"giosg: {reason}", status, response.excerpt)
        return Retry(f"unexpected answer {status}: {response.excerpt[:200]}", status)


def _not_found(reason: str, response: HttpResponse) -> Outcome:
    """Which 404 it is; a bare "Not found." comes from the goal in the URL."""
    folded = reason.lower()
    if "room" in folded:
        return Configuration(f"giosg: {reason}", "rooms", response.status)
    if any(word in folded for word in _SESSION_WORDS):
        # The Visitor Identifier call that opens the session may land after our event.
        return NotYet(f"{NO_VISITOR_SESSION}: {reason}", response.status, response.excerpt)
    return Configuration(f"{GOAL_NOT_FOUND}: {reason}", "goals", response.status, per_route=True)


def _reason(response: HttpResponse) -> str:
    """Giosg's ``detail``, or its per-field messages (``{"rooms": ["…"]}``)."""
    body = response.json()
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    if isinstance(body, dict) and body:
        return "; ".join(f"{key}: {messages_text(value)}" for key, value in body.items())
    if isinstance(body, list) and body:
        return messages_text(body)
    return response.excerpt[:200] or f"HTTP {response.status}"
