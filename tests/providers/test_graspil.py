"""Graspil: target mapping, skip rules, ok-flag classification, settings."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

import marshmallow as ma
import pytest

from tracking_worker.events import Event
from tracking_worker.outcomes import Credentials, Delivered, Reject, Retry
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.providers.graspil import Graspil

SETTINGS = {"api_key": "graspil-secret-key", "targets": {"purchase": 1, "signup": 7}}
HEADERS = {"Api-Key": "graspil-secret-key", "Content-Type": "application/json"}
NOW = 1_750_000_000.0


def provider(**settings: Any) -> Graspil:
    return Graspil(Graspil.schema().load({**SETTINGS, **settings}))


def event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "event_id": "e1",
        "name": "purchase",
        "occurred_at": "2024-08-03T18:00:00.123+00:00",
        "telegram_id": 5842703839,
        "value": 10.0,
        "currency": "USD",
    }
    return Event(**{**fields, **overrides})


def answer(status: int, body: Any = None, **headers: str) -> HttpResponse:
    text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    return HttpResponse(status, text, {k.replace("_", "-"): v for k, v in headers.items()}, NOW)


MAPPING = [
    pytest.param(
        [event()],
        [
            {
                "target_id": 1,
                "user_id": 5842703839,
                "date": "2024-08-03T18:00:00.123+00:00",
                "value": 10.0,
                "unit": "USD",
            }
        ],
        id="value-with-unit-date-with-ms-and-offset",
    ),
    pytest.param(
        [event(name="signup", value=None, currency=None)],
        [{"target_id": 7, "user_id": 5842703839, "date": "2024-08-03T18:00:00.123+00:00"}],
        id="no-value-no-unit",
    ),
    pytest.param(
        [event(), event(event_id="e2", name="signup", value=None, currency=None)],
        [
            {
                "target_id": 1,
                "user_id": 5842703839,
                "date": "2024-08-03T18:00:00.123+00:00",
                "value": 10.0,
                "unit": "USD",
            },
            {"target_id": 7, "user_id": 5842703839, "date": "2024-08-03T18:00:00.123+00:00"},
        ],
        id="batch-is-one-array",
    ),
]


@pytest.mark.parametrize(("given", "body"), MAPPING)
def test_maps_events_to_one_array(given: list[Event], body: list[dict[str, Any]]) -> None:
    request = provider().build_request(given)
    assert request.method == "POST"
    assert request.url == "https://api.graspil.com/v1/send-target"
    assert dict(request.headers) == HEADERS
    assert request.body == body


def test_base_url_is_configurable() -> None:
    url = provider(base_url="http://localhost:8080/").build_request([event()]).url
    assert url == "http://localhost:8080/v1/send-target"


SKIPS = [
    pytest.param(event(name="page_view"), "no target_id", id="no-target-for-name"),
    pytest.param(event(telegram_id=None), "no telegram_id", id="no-telegram-id"),
    pytest.param(event(), None, id="complete"),
]


@pytest.mark.parametrize(("given", "reason"), SKIPS)
def test_skip_reason(given: Event, reason: str | None) -> None:
    found = provider().skip_reason(given)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


RETRY_DATE = formatdate(NOW + 120, usegmt=True)
FIELD_ERRORS = {
    "ok": False,
    "error": {
        "target_id": ["Unknown target_id"],
        "user_id": ["The user with this id was not found"],
    },
}
CLASSIFY = [
    (answer(200, {"ok": True}), Delivered, None),
    (answer(201, {"ok": True}), Delivered, None),
    (
        answer(200, FIELD_ERRORS),
        Reject,
        "target_id: Unknown target_id, user_id: The user with this id was not found",
    ),
    (answer(400, FIELD_ERRORS), Reject, "Unknown target_id"),
    (answer(400, {"ok": False, "error": "bad date"}), Reject, "bad date"),
    (answer(400, {"ok": False}), Reject, "ok:false"),
    (answer(400, {"ok": False, "error": {"api_key": ["Invalid key"]}}), Credentials, "Invalid key"),
    (answer(401, ""), Credentials, "401"),
    (answer(403, {"ok": False}), Credentials, "403"),
    (answer(200, "<html>proxy</html>"), Retry, "unexpected answer 200"),
    (answer(429, "", Retry_After="30"), Retry, "rate limited"),
    (answer(429, "", Retry_After=RETRY_DATE), Retry, "rate limited"),
    (answer(500, "boom"), Retry, "server error 500"),
    (answer(502, ""), Retry, "server error 502"),
    (answer(503, ""), Retry, "server error 503"),
    (answer(408, ""), Retry, "408"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    outcome = provider().classify(response)
    assert type(outcome) is kind
    if text is not None:
        assert text in outcome.reason  # type: ignore[union-attr]


@pytest.mark.parametrize(("header", "after"), [("30", 30.0), (RETRY_DATE, 120.0)])
def test_429_honours_retry_after(header: str, after: float) -> None:
    outcome = provider().classify(answer(429, "", Retry_After=header))
    assert isinstance(outcome, Retry)
    assert outcome.throttled and outcome.after == after


def test_defaults_and_registry() -> None:
    loaded = Graspil.schema().load(SETTINGS)
    assert loaded["base_url"] == "https://api.graspil.com"
    graspil = Graspil(loaded)
    assert graspil.batch_size == 100
    assert graspil.secrets == ["graspil-secret-key"]
    assert provider(batch_size=500).batch_size == 100
    assert REGISTRY["graspil"] is Graspil


BAD_SETTINGS = [
    pytest.param({"api_key": None}, "api_key", id="missing-api-key"),
    pytest.param({"targets": None}, "targets", id="missing-targets"),
    pytest.param({"targets": {"purchase": "1"}}, "targets", id="target-not-int"),
    pytest.param({"targets": {"purchase": True}}, "targets", id="target-bool"),
    pytest.param({"target": {"purchase": 1}}, "target", id="unknown-key"),
    pytest.param({"batch_size": 0}, "batch_size", id="batch-size-zero"),
]


@pytest.mark.parametrize(("change", "key"), BAD_SETTINGS)
def test_bad_settings_name_the_key(change: dict[str, Any], key: str) -> None:
    settings = {k: v for k, v in {**SETTINGS, **change}.items() if v is not None}
    with pytest.raises(ma.ValidationError) as caught:
        Graspil.schema().load(settings)
    assert key in caught.value.messages  # type: ignore[operator]
