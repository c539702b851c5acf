"""TG Analytics (tganalytics.xyz): Telegram Mini App analytics events, sent as JSON arrays.

``POST /events`` with ``TGA-Auth-Token``. The token is bound to the Mini App's domain, so a
server-side sender presents that domain as ``Origin``/``Referer`` or gets 403. Several errors share
status 400, so answers are read by status *and* message. One bad item fails the whole array, so a
validation error is a Reject that delivery splits to find the culprit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import fields, validate

from ..events import Event
from ..outcomes import Configuration, Credentials, Delivered, Outcome, Reject, Retry
from ..sections import checked, setting
from . import typed
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    provider_url,
    settings_schema,
    single_token,
    transient,
    trimmed_name,
)

MAX_BATCH = 100
DEFAULT_BATCH = 20  # what the official SDK sends at most per request

#: Names TGA documents or its SDK sends; any other name goes as ``custom-event``.
KNOWN_EVENTS = frozenset(
    {
        "app-init",
        "app-hide",
        "custom-event",
        "connection-started",
        "connection-completed",
        "connection-error",
        "connection-restoring-completed",
        "connection-restoring-error",
        "transaction-sent-for-signature",
        "transaction-signed",
        "transaction-signing-failed",
        "disconnection",
        "purchase-init",
        "purchase-success",
        "purchase-failed",
        "purchase-cancelled",
        "refund-issued",
        "subscription-started",
        "subscription-renewed",
        "subscription-cancelled",
    }
)

#: The document's enum for ``auth_type``: "0 - 'ton_addr', 1 - 'ton_proof'". track() takes
#: either form; the number is what goes out.
AUTH_TYPES = {"ton_addr": 0, "ton_proof": 1}

#: Optional top-level TGA fields an event may carry in its ``context``, each with the check of
#: its documented type (``typed.py``); other keys are ignored. A None value is left out.
TOP_LEVEL_FIELDS: Mapping[str, typed.Check | typed.Nested] = {
    "is_premium": typed.boolean,
    "is_success": typed.boolean,
    "error_message": typed.string,
    "error_code": typed.number,
    "wallet_address": typed.string,
    "wallet_type": typed.string,
    "wallet_version": typed.string,
    # enum(0 - 'ton_addr', 1 - 'ton_proof'): the number, or the name it stands for.
    "auth_type": typed.one_of(0, 1, "ton_addr", "ton_proof"),
    "valid_until": typed.string,
    "from": typed.string,
    "messages": typed.list_of({"address": typed.string, "amount": typed.string}),
    "platform": typed.string,
    "locale": typed.string,
    "start_param": typed.string,
    "url_referer": typed.string,
    "scope": typed.string,
}

# TGA validates session_id as a UUID; a non-canonical one would fail the whole array.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_HOST = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?\Z"
# Words of the messages TGA answers when the token, app_name or domain is wrong (400 or 403).
_CONFIG_WORDS = ("token", "app_name", "domain name")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, kw_only=True)
class TgAnalyticsSettings(ProviderSettings):
    token: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    #: The name the token was created for; TGA refuses any other.
    app_name: str = field(metadata=checked(fields.String(required=True, validate=trimmed_name)))
    #: The Mini App's host the token is bound to, sent as Origin and Referer.
    app_domain: str = field(
        metadata=checked(
            fields.String(
                required=True,
                validate=validate.Regexp(
                    _HOST, error="Must be a bare host name such as app.example.com."
                ),
            )
        )
    )
    base_url: str = provider_url("https://tganalytics.xyz")
    batch_size: int | None = setting(
        DEFAULT_BATCH,
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_BATCH)),
    )


class TgAnalytics(Provider):
    name = "tganalytics"
    order = 20
    max_batch = MAX_BATCH
    default_batch = DEFAULT_BATCH
    schema = settings_schema(TgAnalyticsSettings)
    settings: TgAnalyticsSettings
    secret_keys = ("token",)

    def skip_reason(self, event: Event) -> str | None:
        if event.telegram_id is None:
            return "no telegram_id (TG Analytics user_id)"
        session = _session(event)
        if session is None:
            return "no miniapp_session_id (TG Analytics needs the Mini App session UUID)"
        if not _UUID.fullmatch(session):
            return "session_id is not a UUID"
        return None

    def check_event(self, event: Event) -> dict[str, list[str]]:
        """The documented types of the ``context`` keys sent as TGA's own fields."""
        context = event.context
        if not context:
            return {}
        return typed.errors("context", context, TOP_LEVEL_FIELDS)

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        domain = self.settings.app_domain
        headers = {
            "TGA-Auth-Token": self.settings.token,
            "Content-Type": "application/json",
            "Origin": f"https://{domain}",
            "Referer": f"https://{domain}/",
        }
        return HttpRequest(
            "POST", f"{self.base_url}/events", headers, [self._item(e) for e in events]
        )

    def _item(self, event: Event) -> dict[str, Any]:
        item: dict[str, Any] = {
            "event_name": event.name if event.name in KNOWN_EVENTS else "custom-event",
            "user_id": event.telegram_id,
            "session_id": _session(event),
            "app_name": self.settings.app_name,
            "client_timestamp": _millis(event),
        }
        context = event.context
        item.update({k: v for k, v in context.items() if k in TOP_LEVEL_FIELDS and v is not None})
        if item.get("auth_type") in AUTH_TYPES:  # a name track() took: the enum's number is sent
            item["auth_type"] = AUTH_TYPES[item["auth_type"]]
        custom = _custom_data(event)
        if custom:
            item["custom_data"] = custom
        return item

    # Classification (TG Analytics' API page and its users' reports: several answers share 400, so
    # the message decides too):
    # | status | message                                        | outcome                        |
    # |--------|------------------------------------------------|--------------------------------|
    # | 2xx    | Success record.                                | Delivered                      |
    # | 429, 408, 5xx, network error                            | Retry (429 throttles)          |
    # | 400    | Failed to record                               | Retry                          |
    # | 400    | Invalid app_name is specified.                 | Configuration(app_name)        |
    # | 403    | The domain name does not match.                | Configuration(app_domain)      |
    # | 400    | token not specified / Token is invalid.        | Credentials                    |
    # | 401, 403 (other)                                        | Credentials                    |
    # | 404    | (no such endpoint)                             | Configuration(base_url)        |
    # | 400    | anything else (VALIDATION_MISMATCH_REPORT)     | Reject (a batch is split first)|
    def classify(self, response: HttpResponse) -> Outcome:
        common = transient(response)
        if common is not None:
            return common
        status = response.status
        if 200 <= status < 300:
            return Delivered()
        message = _message(response)
        folded = message.lower()
        if status == 400 and folded.startswith("failed to record"):
            return Retry(f"TG Analytics could not record (400): {message}", status)
        if "app_name" in folded:
            return Configuration(f"TG Analytics: {message}", "app_name", status)
        if "domain name" in folded:
            return Configuration(f"TG Analytics: {message}", "app_domain", status)
        if status in (401, 403) or any(word in folded for word in _CONFIG_WORDS):
            return Credentials(f"TG Analytics refused token, app_name or domain: {message}", status)
        if status == 404:
            return Configuration(
                f"TG Analytics: no such endpoint (404): {message}", "base_url", 404
            )
        if 400 <= status < 500:
            return Reject(f"TG Analytics: {message}", status, response.excerpt)
        return Retry(f"unexpected answer {status}: {response.excerpt[:200]}", status)


def _session(event: Event) -> str | None:
    """The Mini App session: ``miniapp_session_id``, else the legacy ``session_id``."""
    return event.miniapp_session_id or event.session_id


def _custom_data(event: Event) -> dict[str, Any]:
    """Properties of a documented event; the name and properties of any other one.

    The event's own name wins over a property called ``event_name``, so it cannot be renamed.
    """
    if event.name in KNOWN_EVENTS:
        return dict(event.properties)
    properties = {k: v for k, v in event.properties.items() if k != "event_name"}
    return {"event_name": event.name, **properties}


def _millis(event: Event) -> str:
    """Milliseconds since the epoch, as the SDK sends them; integer maths, so never off by one."""
    return str((event.occurred - _EPOCH) // _MILLISECOND)


def _message(response: HttpResponse) -> str:
    body = response.json()
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, list):
        message = "; ".join(map(str, message))
    if message:
        return str(message)
    return response.excerpt[:200] or f"HTTP {response.status}"
