"""What every provider's unit tests share: answers, events, outcome checks, transient cases.

Each provider's own documented answers, mappings, skip rules and settings stay in its test file;
only the helpers and the cases every provider must treat alike live here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any, TypeVar

import marshmallow as ma
import pytest

from tracking_worker.events import Event
from tracking_worker.outcomes import Delivered, Outcome, Retry
from tracking_worker.providers import HttpRequest, HttpResponse, Provider

P = TypeVar("P", bound=Provider)

#: When every test answer arrived (epoch seconds).
NOW = 1_750_000_000.0
#: A Retry-After HTTP date two minutes after ``NOW``.
RETRY_DATE = formatdate(NOW + 120, usegmt=True)

EVENT_DEFAULTS: dict[str, Any] = {
    "event_id": "e1",
    "name": "purchase",
    "occurred_at": "2025-04-01T10:33:19.534+00:00",
}


def answer(status: int, body: Any = None, **headers: str) -> HttpResponse:
    """An answer received at ``NOW``: a str body is sent as is, anything else as JSON.

    Header names are keyword arguments with ``_`` for ``-`` (``Retry_After="30"``).
    """
    text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    return HttpResponse(status, text, {k.replace("_", "-"): v for k, v in headers.items()}, NOW)


def make_event(**overrides: Any) -> Event:
    """An event with id ``e1``, name ``purchase`` and a fixed time, changed by ``overrides``."""
    return Event(**{**EVENT_DEFAULTS, **overrides})


def event_factory(**defaults: Any) -> Callable[..., Event]:
    """``make_event`` with a provider's own defaults on top; a call's overrides win."""

    def event(**overrides: Any) -> Event:
        return make_event(**{**defaults, **overrides})

    return event


def load_provider(cls: type[P], settings: Mapping[str, Any], **changes: Any) -> P:
    """The provider built from ``settings`` with ``changes``, loaded through its schema."""
    return cls(cls.schema().load({**settings, **changes}))


def assert_post(request: HttpRequest, url: str, headers: Mapping[str, str], body: Any) -> None:
    """The request is a POST of exactly ``body`` with exactly ``headers`` to ``url``."""
    assert request.method == "POST"
    assert request.url == url
    assert dict(request.headers) == headers
    assert request.body == body


def assert_skip_reason(found: str | None, reason: str | None) -> None:
    """No skip reason when ``reason`` is None, else one that contains ``reason``."""
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def assert_outcome(outcome: Outcome, kind: type, text: str | None = None) -> None:
    """The outcome is exactly of type ``kind``, and its reason contains ``text`` if given."""
    assert type(outcome) is kind
    if text is not None:
        assert not isinstance(outcome, Delivered)
        assert text in outcome.reason


def assert_classified(
    provider: Provider, response: HttpResponse, kind: type, text: str | None
) -> Outcome:
    """``provider`` classifies ``response`` as ``kind`` (reason containing ``text``); any
    outcome but Delivered carries the answer's status."""
    outcome = provider.classify(response)
    assert_outcome(outcome, kind, text)
    if not isinstance(outcome, Delivered):
        assert outcome.status == response.status
    return outcome


def assert_transient(
    provider: Provider,
    response: HttpResponse,
    text: str,
    after: float | None,
    throttled: bool,
) -> None:
    """``response`` is retried with ``text`` in the reason, waits ``after`` seconds (the
    Retry-After) and pauses the whole provider exactly when ``throttled``."""
    outcome = assert_classified(provider, response, Retry, text)
    assert isinstance(outcome, Retry)
    assert outcome.after == after
    assert outcome.throttled is throttled


def assert_bad_settings(
    schema: type[ma.Schema], settings: Mapping[str, Any], change: Mapping[str, Any], key: str
) -> None:
    """Loading ``settings`` with ``change`` (a None value removes the key) fails on ``key``."""
    loaded = {k: v for k, v in {**settings, **change}.items() if v is not None}
    with pytest.raises(ma.ValidationError) as caught:
        schema().load(loaded)
    messages = caught.value.messages
    assert isinstance(messages, dict)
    assert key in messages


#: Body each transient case sends unless a provider's API documents its own.
TRANSIENT_BODIES: dict[int, Any] = {429: "", 500: "boom", 502: "", 503: "", 408: ""}


def transient_cases(bodies: Mapping[int, Any] | None = None) -> list[Any]:
    """Rows ``(response, text, after, throttled)`` every provider must classify alike: a 429
    pauses the provider for its Retry-After (seconds or HTTP date); 408 and 5xx are retried
    without pausing it. ``bodies`` replaces the body sent for a status."""
    body = {**TRANSIENT_BODIES, **(bodies or {})}
    return [
        pytest.param(
            answer(429, body[429], Retry_After="30"),
            "rate limited",
            30.0,
            True,
            id="429-retry-after-seconds",
        ),
        pytest.param(
            answer(429, body[429], Retry_After=RETRY_DATE),
            "rate limited",
            120.0,
            True,
            id="429-retry-after-http-date",
        ),
        pytest.param(answer(500, body[500]), "server error 500", None, False, id="500"),
        pytest.param(answer(502, body[502]), "server error 502", None, False, id="502"),
        pytest.param(answer(503, body[503]), "server error 503", None, False, id="503"),
        pytest.param(answer(408, body[408]), "408", None, False, id="408"),
    ]


#: The transient cases with the default bodies.
TRANSIENT = transient_cases()
