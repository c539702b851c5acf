"""What one event becomes for each provider: the exact request, or why the provider skips it.

One implementation behind ``tracking-worker render``, the ``tracked`` test fixture and a dry
run's log line, so what a user reads in any of them is what a worker would send. Pure: no
Redis, no network, no clock. Every provider's secrets are masked (``redact.py``) wherever
they appear in a rendered request: URL, headers and body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .events import Event
from .providers.base import HttpRequest, Provider
from .redact import Redactor


@dataclass(frozen=True)
class RenderedRequest:
    """One request as it would go out, secrets masked; ``json`` is the body before encoding."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "json": self.json,
        }

    def line(self, most: int | None = None) -> str:
        """The request on one line: method, URL, headers and the compact body, the body cut
        to ``most`` characters (a log line stays readable; ``render`` shows it whole)."""
        body = json.dumps(self.json, ensure_ascii=False, separators=(",", ":"))
        if most is not None and len(body) > most:
            body = f"{body[:most]}...(+{len(body) - most} chars)"
        headers = json.dumps(dict(self.headers), ensure_ascii=False, separators=(",", ":"))
        return f"{self.method} {self.url} {headers} {body}"


def rendered(request: HttpRequest, redact: Redactor) -> RenderedRequest:
    """``request`` with every secret ``redact`` knows masked. The body is masked in its JSON
    text, where a mask ("[redacted]", no quote or backslash) keeps the JSON valid."""
    text = json.dumps(request.body, ensure_ascii=False)
    return RenderedRequest(
        request.method,
        redact(request.url),
        {name: redact(value) for name, value in request.headers.items()},
        json.loads(redact(text)),
    )


@dataclass(frozen=True)
class Rendering:
    """One event, per provider it is routed to: its request, or why that provider skips it."""

    requests: Mapping[str, RenderedRequest]
    skipped: Mapping[str, str]


class Renderer:
    """Renders events for a set of configured providers (each one's redactor built once)."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = dict(providers)
        self._redact = {name: Redactor(p.secrets) for name, p in self.providers.items()}

    def render(self, event: Event, asked: Sequence[str] = ()) -> Rendering:
        """The providers ``asked`` for (none: every configured one), as routing picks them:
        each one's request carrying this event alone (a batching provider's worker sends it
        with others, in one request of the same form), or the provider's skip reason. A
        mapping that raises is shown as a skip, "mapping failed: ..."; a worker dead-letters
        such an event as poison."""
        requests: dict[str, RenderedRequest] = {}
        skipped: dict[str, str] = {}
        for name in asked or self.providers:
            provider = self.providers.get(name)
            if provider is None:
                skipped[name] = "not configured"
                continue
            reason = provider.skip_reason(event)
            if reason is not None:
                skipped[name] = reason
                continue
            try:
                request = provider.build_request([event])
            except Exception as exc:  # noqa: BLE001 - shown, as a worker dead-letters it
                skipped[name] = self._redact[name](f"mapping failed: {type(exc).__name__}: {exc}")
                continue
            requests[name] = rendered(request, self._redact[name])
        return Rendering(requests, skipped)
