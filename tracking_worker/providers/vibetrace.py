"""VibeTrace (VTmarketing, api.vtcdn.net): e-commerce events of known users.

One event per request to ``POST /v1/event/`` with the raw API key in ``Authorization``. An order
goes as a ``confirmation`` (VibeTrace discards a second one with the same ``orderId``, so its
retries are safe); anything else as a ``generic`` event. The user must already exist in VibeTrace,
else it answers 400: a Reject carrying its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from ..events import Event
from ..money import ISO_CODES
from ..outcomes import Credentials, Delivered, NotYet, Outcome, Reject, Retry
from ..sections import checked
from . import typed
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    amount_of,
    amount_skip,
    provider_url,
    settings_schema,
    single_token,
    transient,
)

#: Optional user attributes, taken from ``context`` keys of the same name.
USER_FIELDS = ("tel", "firstname", "lastname", "country", "city")
#: Keys of ``confirmation.generic`` taken from ``properties`` (names are case-sensitive).
GENERIC_KEYS = ("status", "coupons", "phone", "total_shipping")
#: A confirmation's ``items``: each a product ``id`` and a ``quantity`` of it.
ITEMS = {
    "items": typed.list_of(
        {"id": typed.identifier, "quantity": typed.positive_int}, required=("id", "quantity")
    )
}


@dataclass(frozen=True, kw_only=True)
class VibeTraceSettings(ProviderSettings):
    api_key: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    #: normalized event names sent as a VibeTrace ``confirmation`` (an order)
    confirmation_events: Sequence[str] = field(
        default_factory=lambda: ["purchase"],
        metadata=checked(fields.List(fields.String(validate=validate.Length(min=1)))),
    )
    base_url: str = provider_url("https://api.vtcdn.net")


class VibeTrace(Provider):
    name = "vibetrace"
    order = 50
    schema = settings_schema(VibeTraceSettings)
    settings: VibeTraceSettings
    secret_keys = ("api_key",)
    #: A confirmation's ``currency`` is an order's, of a shop: ISO 4217 (Telegram Stars are no
    #: shop's currency). Other events carry no amount.
    currencies = ISO_CODES

    def skip_reason(self, event: Event) -> str | None:
        if not event.email and not event.user_id:
            return "no email or user_id (VibeTrace identifies users by them)"
        if not self._is_confirmation(event):
            return None
        if event.order_id is None:
            return "no order_id (a VibeTrace confirmation needs one)"
        return amount_skip(event, self.currencies, "VibeTrace")

    def check_event(self, event: Event) -> dict[str, list[str]]:
        """A confirmation's ``items``: objects with an ``id`` and a whole ``quantity``."""
        if "items" not in event.properties or not self._is_confirmation(event):
            return {}
        return typed.errors("properties", event.properties, ITEMS)

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        (event,) = events  # one event per request
        kind = _confirmation(event) if self._is_confirmation(event) else _generic(event)
        return HttpRequest(
            "POST",
            f"{self.base_url}/v1/event/",
            {"Authorization": self.settings.api_key, "Content-Type": "application/json"},
            {"user": _user(event), "event": kind},
        )

    def _is_confirmation(self, event: Event) -> bool:
        return event.name in self.settings.confirmation_events

    # Classification (VibeTrace's server-side integration page):
    # | answer                                     | outcome                                  |
    # |--------------------------------------------|------------------------------------------|
    # | 2xx                                        | Delivered                                |
    # | 429 / 408 / 5xx / network error            | Retry (429 throttles)                    |
    # | 401 / 403                                  | Credentials: provider paused             |
    # | 400 User not found / user must exist       | NotYet: delivery.not_yet_delays, dead    |
    # | other 4xx (missing or bad fields)          | Reject                                   |
    def classify(self, response: HttpResponse) -> Outcome:
        common = transient(response)
        if common is not None:
            return common
        status = response.status
        if 200 <= status < 300:
            return Delivered()
        if status in (401, 403):
            return Credentials(
                f"VibeTrace refused the API key ({status}): {_message(response)}", status
            )
        if 400 <= status < 500:
            message = _message(response)
            # The site's own tracker often creates the user moments after our event arrives.
            known = not any(words in message.lower() for words in _NO_USER_WORDS)
            outcome = Reject if known else NotYet
            return outcome(f"VibeTrace: {message}", status, response.excerpt)
        return Retry(f"unexpected answer {status}: {response.excerpt[:200]}", status)


#: Words of VibeTrace's 400 for a user it does not know (yet).
_NO_USER_WORDS = ("user not found", "must exist")


def _user(event: Event) -> dict[str, Any]:
    """The email identifies the user when known; ``_id`` only stands in for a missing one."""
    user: dict[str, Any] = {"email": event.email} if event.email else {"_id": event.user_id}
    user.update({k: event.context[k] for k in USER_FIELDS if event.context.get(k) is not None})
    return user


def _confirmation(event: Event) -> dict[str, Any]:
    properties = event.properties
    generic: dict[str, Any] = {
        "orderId": event.order_id,
        "total": amount_of(event),
        "currency": event.currency,
    }
    generic.update({k: properties[k] for k in GENERIC_KEYS if k in properties})
    generic = {k: v for k, v in generic.items() if v is not None}
    return {"confirmation": {"generic": generic, "items": properties.get("items", [])}}


def _generic(event: Event) -> dict[str, Any]:
    """The event's own name wins over a property called ``event_name``."""
    properties = {k: v for k, v in event.properties.items() if k != "event_name"}
    return {"generic": {"generic": {"event_name": event.name, **properties}}}


def _message(response: HttpResponse) -> str:
    """``errors[0].message`` and ``description``, as VibeTrace documents its 400."""
    body = response.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict):
        parts = [str(first[k]) for k in ("message", "description") if first.get(k)]
        if parts:
            return ": ".join(parts)
    if isinstance(first, str) and first:
        return first
    return response.excerpt[:200] or f"HTTP {response.status}"
