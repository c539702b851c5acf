"""GramPixel: server-to-server conversions of Telegram bot users, for ad attribution.

One event per request to ``POST /v1/events/custom`` with ``x-api-key``. GramPixel forwards events
to Meta CAPI and TikTok, where a duplicate Purchase is costly: only a clear ``ok: true`` counts as
delivered, and its ``event_id`` is kept for the logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from ..events import Event
from ..money import ISO_CODES
from ..outcomes import Configuration, Credentials, Delivered, Outcome, Reject, Retry
from ..sections import checked, setting
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    UuidText,
    amount_of,
    amount_skip,
    provider_url,
    settings_schema,
    single_token,
    transient,
)

#: Our event names -> GramPixel's standard keys, the ones it maps to the ad networks' standard
#: events (a custom name reaches none). The ``events`` setting overrides or adds, name by name.
DEFAULT_EVENTS: Mapping[str, str] = {
    "purchase": "Purchase",
    "registration": "REG",
    "first_deposit": "FTD",
    "deposit": "DEP",
    "subscribe": "Subscribe",
    "join_request": "JoinRequest",
    "install": "INSTALL",
    "trial": "TRIAL",
}


@dataclass(frozen=True, kw_only=True)
class GramPixelSettings(ProviderSettings):
    api_key: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    workspace_id: str = field(metadata=checked(UuidText(required=True)))
    #: normalized event name -> GramPixel event name, over ``DEFAULT_EVENTS``; a name in
    #: neither passes unchanged (a custom event)
    events: Mapping[str, str] = field(
        default_factory=dict,
        metadata=checked(
            fields.Dict(keys=fields.String(), values=fields.String(validate=validate.Length(min=1)))
        ),
    )
    base_url: str = provider_url("https://api.grampixel.com")
    #: The docs show both /v1/events/custom and /api/v1/events/custom.
    path: str = setting(
        "/v1/events/custom",
        fields.String(validate=[validate.Regexp(r"^/", error="Must start with /."), single_token]),
    )


class GramPixel(Provider):
    name = "grampixel"
    order = 30
    schema = settings_schema(GramPixelSettings)
    settings: GramPixelSettings
    secret_keys = ("api_key",)
    #: ``currency``: "3-letter ISO 4217 currency code"; Telegram Stars are not one.
    currencies = ISO_CODES

    def __init__(self, settings: GramPixelSettings) -> None:
        super().__init__(settings)
        self.events = {**DEFAULT_EVENTS, **settings.events}

    def skip_reason(self, event: Event) -> str | None:
        """A conversion without a value is still sent: GramPixel needs one only for ROAS."""
        if event.telegram_id is None:
            return "no telegram_id"
        return amount_skip(event, self.currencies, "GramPixel")

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        (event,) = events  # one event per request
        body: dict[str, Any] = {
            "event_name": self._event_name(event),
            "telegram_id": event.telegram_id,
            "workspace_id": self.settings.workspace_id,
        }
        optional = {
            "session_id": _ad_session(event),
            "value": amount_of(event),
            "currency": event.currency,
            "user_data": event.properties or None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        headers = {"x-api-key": self.settings.api_key, "Content-Type": "application/json"}
        return HttpRequest("POST", f"{self.base_url}{self.settings.path}", headers, body)

    def _event_name(self, event: Event) -> str:
        return self.events.get(event.name, event.name)

    # Classification (GramPixel's page documents success only; the rest is our choice):
    # | answer                                 | outcome                                      |
    # |----------------------------------------|----------------------------------------------|
    # | 2xx {"ok": true, ...}                  | Delivered                                    |
    # | 429 / 408 / 5xx / network error        | Retry (429 throttles)                        |
    # | 401, 403                               | Credentials: provider paused                 |
    # | 404                                    | Configuration(base_url/path): provider paused|
    # | other 4xx, or ok:false                 | Reject                                       |
    # | anything else (a proxy's page)         | Retry, bounded by max_attempts               |
    def classify(self, response: HttpResponse) -> Outcome:
        common = transient(response)
        if common is not None:
            return common
        status = response.status
        body = response.json()
        ok = body.get("ok") if isinstance(body, dict) else None
        if status in (401, 403):
            return Credentials(
                f"GramPixel refused the API key ({status}): {_message(response)}", status
            )
        if 200 <= status < 300 and ok is True:
            return Delivered()
        if status == 404:
            return Configuration(
                f"GramPixel: no such endpoint (404), check base_url and path: {_message(response)}",
                "base_url/path",
                status,
            )
        if 400 <= status < 500 or ok is False:
            return Reject(f"GramPixel: {_message(response)}", status, response.excerpt)
        # Neither success nor refusal (e.g. a proxy page): retried within bounded attempts.
        return Retry(f"unexpected answer {status}: {response.excerpt[:200]}", status)

    def describe_success(self, response: HttpResponse) -> str:
        """GramPixel's ``data.event_id``, the handle to find the event in its dashboard."""
        body = response.json()
        data = body.get("data") if isinstance(body, dict) else None
        event_id = data.get("event_id") if isinstance(data, dict) else None
        return str(event_id) if event_id else ""


def _message(response: HttpResponse) -> str:
    """GramPixel's error text; its error shape is undocumented, so try the usual keys."""
    body = response.json()
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            found = body.get(key)
            if isinstance(found, dict):
                found = found.get("message")
            if found:
                return str(found)
    return response.excerpt[:200] or f"HTTP {response.status}"


def _ad_session(event: Event) -> str | None:
    """The ad click's session (the bot's ``/start`` value), whatever its form: ``gp_a1b2c3`` is
    the document's example, not a required prefix. An event from before ``ad_session_id``
    existed may carry a ``gp_…`` value in the shared ``session_id``, sent as before; any other
    ``session_id`` is a Mini App's, which would spoil attribution. Without either, GramPixel
    resolves the session itself."""
    if event.ad_session_id is not None:
        return event.ad_session_id
    legacy = event.session_id
    return legacy if legacy and legacy.startswith("gp_") else None
