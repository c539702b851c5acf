"""Graspil: target mapping, skip rules, ok-flag classification, settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.support import (
    TRANSIENT,
    answer,
    assert_bad_settings,
    assert_classified,
    assert_post,
    assert_skip_reason,
    assert_transient,
    event_factory,
    load_provider,
)
from tracking_worker.events import Event
from tracking_worker.outcomes import Configuration, Credentials, Delivered, Reject, Retry
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.providers.graspil import Graspil

SETTINGS = {"api_key": "graspil-secret-key", "targets": {"purchase": 1, "signup": 7}}
HEADERS = {"Api-Key": "graspil-secret-key", "Content-Type": "application/json"}


def provider(**settings: Any) -> Graspil:
    return load_provider(Graspil, SETTINGS, **settings)


event = event_factory(
    occurred_at="2024-08-03T18:00:00.123+00:00",
    telegram_id=5842703839,
    value=10.0,
    currency="USD",
)


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
    assert_post(request, "https://api.graspil.com/v1/send-target", HEADERS, body)


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
    assert_skip_reason(provider().skip_reason(given), reason)


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
        Configuration,
        "target_id: Unknown target_id, user_id: The user with this id was not found",
    ),
    (answer(400, FIELD_ERRORS), Configuration, "Unknown target_id"),
    (
        answer(200, {"ok": False, "error": {"target_id": ["Unknown target_id"]}}),
        Configuration,
        None,
    ),
    (answer(200, {"ok": False, "error": {"user_id": ["Must be an integer"]}}), Reject, "user_id"),
    (answer(400, {"ok": False, "error": "bad date"}), Reject, "bad date"),
    (answer(400, {"ok": False}), Reject, "ok:false"),
    (answer(400, {"ok": False, "error": {"api_key": ["Invalid key"]}}), Credentials, "Invalid key"),
    (answer(401, ""), Credentials, "401"),
    (answer(403, {"ok": False}), Credentials, "403"),
    (answer(200, "<html>proxy</html>"), Retry, "unexpected answer 200"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    assert_classified(provider(), response, kind, text)


@pytest.mark.parametrize(("response", "text", "after", "throttled"), TRANSIENT)
def test_transient(response: HttpResponse, text: str, after: float | None, throttled: bool) -> None:
    assert_transient(provider(), response, text, after, throttled)


def test_defaults_and_registry() -> None:
    loaded = Graspil.schema().load(SETTINGS)
    assert loaded.base_url == "https://api.graspil.com"
    graspil = Graspil(loaded)
    assert graspil.batch_size == 100
    assert graspil.secrets == ["graspil-secret-key"]
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
    assert_bad_settings(Graspil.schema, SETTINGS, change, key)
