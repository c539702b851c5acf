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
from ..outcomes import Configuration, Credentials, Delivered, Outcome, Reject, Retry
from ..sections import checked, setting
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    UuidText,
    provider_url,
    settings_schema,
    single_token,
    transient,
)

#: GramPixel event names that need a monetary value (for ROAS).
VALUE_REQUIRED = frozenset({"FTD", "DEP", "Purchase"})


@dataclass(frozen=True, kw_only=True)
class GramPixelSettings(ProviderSettings):
    api_key: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    workspace_id: str = field(metadata=checked(UuidText(required=True)))
    #: normalized event name -> GramPixel event name; unmapped names pass unchanged
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

    def skip_reason(self, event: Event) -> str | None:
        if event.telegram_id is None:
            return "no telegram_id"
        name = self._event_name(event)
        if name in VALUE_REQUIRED and event.value is None:
            return f"no value (GramPixel requires one for {name})"
        return None

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        (event,) = events  # one event per request
        body: dict[str, Any] = {
            "event_name": self._event_name(event),
            "telegram_id": event.telegram_id,
            "workspace_id": self.settings.workspace_id,
        }
        optional = {
            "session_id": _grampixel_session(event.session_id),
            "value": event.value,
            "currency": event.currency,
            "user_data": event.properties or None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        headers = {"x-api-key": self.settings.api_key, "Content-Type": "application/json"}
        return HttpRequest("POST", f"{self.base_url}{self.settings.path}", headers, body)

    def _event_name(self, event: Event) -> str:
        name = self.settings.events.get(event.name, event.name)
        return name

    # Classification (seed 002 documents success only; the rest is PROVIDERS.md's):
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


def _grampixel_session(session_id: str | None) -> str | None:
    """Only GramPixel's own ``gp_…`` ids: the same field carries other providers' session ids
    (a Mini App UUID for TG Analytics), and a foreign one would spoil attribution. Without it
    GramPixel resolves the session itself."""
    return session_id if session_id and session_id.startswith("gp_") else None
