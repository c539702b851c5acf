"""Graspil: goal completions ("targets") of Telegram bot users, 1 to 100 per request.

``POST /v1/send-target`` with ``Api-Key``; success is ``{"ok": true}``, a validation error is
``{"ok": false, "error": {"<field>": ["<message>"]}}`` for the whole request, so delivery splits a
rejected batch to isolate the bad items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields

from ..events import Event
from ..money import ALL_CODES
from ..outcomes import Configuration, Credentials, Delivered, Outcome, Reject, Retry
from ..sections import checked
from .base import (
    HttpRequest,
    HttpResponse,
    Provider,
    ProviderSettings,
    amount_of,
    amount_skip,
    messages_text,
    provider_url,
    settings_schema,
    single_token,
    transient,
)

_KEY_FIELDS = {"api_key", "api-key", "apikey", "key", "token"}


@dataclass(frozen=True, kw_only=True)
class GraspilSettings(ProviderSettings):
    api_key: str = field(metadata=checked(fields.String(required=True, validate=single_token)))
    base_url: str = provider_url("https://api.graspil.com")
    #: normalized event name -> Graspil target_id
    targets: Mapping[str, int] = field(
        metadata=checked(
            fields.Dict(keys=fields.String(), values=fields.Integer(strict=True), required=True)
        )
    )


class Graspil(Provider):
    name = "graspil"
    order = 10
    max_batch = 100
    default_batch = 100
    schema = settings_schema(GraspilSettings)
    settings: GraspilSettings
    secret_keys = ("api_key",)
    #: ``unit`` is "similar to currencies in the TG API", whose list holds Telegram Stars: every
    #: code track() takes (ISO 4217 and XTR). Graspil itself checks only the length (3).
    currencies = ALL_CODES

    def skip_reason(self, event: Event) -> str | None:
        if event.name not in self.settings.targets:
            return "no target_id configured for this event name"
        if event.telegram_id is None:
            return "no telegram_id"
        return amount_skip(event, self.currencies, "Graspil")

    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        return HttpRequest(
            "POST",
            f"{self.base_url}/v1/send-target",
            {"Api-Key": self.settings.api_key, "Content-Type": "application/json"},
            [self._item(e) for e in events],
        )

    def _item(self, event: Event) -> dict[str, Any]:
        item: dict[str, Any] = {
            "target_id": self.settings.targets[event.name],
            "user_id": event.telegram_id,
            "date": event.occurred_at,
        }
        if event.value is not None:
            item["value"] = amount_of(event)  # at the currency's places: XTR whole stars
            item["unit"] = event.currency
        return item

    # Classification (Graspil's send-target page; statuses of errors are undocumented):
    # | answer                                         | outcome                              |
    # |------------------------------------------------|--------------------------------------|
    # | 2xx {"ok": true}                               | Delivered                            |
    # | 429 / 408 / 5xx / network error                | Retry (429 throttles)                |
    # | 401, 403, ok:false naming the key              | Credentials: provider paused         |
    # | ok:false naming target_id ("Unknown target_id")| Configuration(targets), per route:   |
    # |                                                | that event name's goal id is wrong   |
    # | other ok:false                                 | Reject (a batch is split first)      |
    # | anything else                                  | Retry, bounded by max_attempts       |
    def classify(self, response: HttpResponse) -> Outcome:
        common = transient(response)
        if common is not None:
            return common
        body = response.json()
        ok = isinstance(body, dict) and body.get("ok")
        if response.status in (401, 403):
            return Credentials(f"Graspil refused the API key ({response.status})", response.status)
        if 200 <= response.status < 300 and ok is True:
            return Delivered()
        if isinstance(body, dict) and body.get("ok") is False:
            return self._error(response, body.get("error"))
        return Retry(
            f"unexpected answer {response.status}: {response.excerpt[:200]}", response.status
        )

    def _error(self, response: HttpResponse, error: Any) -> Outcome:
        message = _error_text(error)
        if isinstance(error, dict) and _KEY_FIELDS & {str(k).lower() for k in error}:
            return Credentials(f"Graspil refused the API key: {message}", response.status)
        if isinstance(error, dict) and "target_id" in {str(k).lower() for k in error}:
            return Configuration(f"Graspil: {message}", "targets", response.status, per_route=True)
        return Reject(f"Graspil: {message}", response.status, response.excerpt)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        parts = []
        for field_name, messages in error.items():
            parts.append(f"{field_name}: {messages_text(messages)}")
        return ", ".join(parts) or "ok:false"
    return str(error) if error else "ok:false"
