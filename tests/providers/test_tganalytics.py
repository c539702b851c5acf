"""TG Analytics: array mapping, skip rules, status+message classification, settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.support import (
    answer,
    assert_bad_settings,
    assert_classified,
    assert_post,
    assert_skip_reason,
    assert_transient,
    event_factory,
    load_provider,
    transient_cases,
)
from tracking_worker.events import Event
from tracking_worker.outcomes import Configuration, Credentials, Delivered, Reject, Retry
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.providers.tganalytics import TgAnalytics

SESSION = "10c574d9-6d2c-4e6d-a141-ce6da141ce6d"
SETTINGS = {"token": "tga-secret-token", "app_name": "shop", "app_domain": "app.example.com"}
HEADERS = {
    "TGA-Auth-Token": "tga-secret-token",
    "Content-Type": "application/json",
    "Origin": "https://app.example.com",
    "Referer": "https://app.example.com/",
}


def provider(**settings: Any) -> TgAnalytics:
    return load_provider(TgAnalytics, SETTINGS, **settings)


event = event_factory(name="app-init", telegram_id=111111111, session_id=SESSION)


def base_item(**extra: Any) -> dict[str, Any]:
    item = {
        "user_id": 111111111,
        "session_id": SESSION,
        "app_name": "shop",
        "client_timestamp": "1743503599534",
    }
    return {**item, **extra}


MAPPING = [
    pytest.param(
        event(session_id=None, miniapp_session_id=SESSION, ad_session_id="gp_a1b2c3"),
        base_item(event_name="app-init"),
        id="miniapp-session-beside-an-ad-session",
    ),
    pytest.param(
        event(session_id="6f1c2a4e-9b7d-4e21-8c55-0a1b2c3d4e5f", miniapp_session_id=SESSION),
        base_item(event_name="app-init"),
        id="miniapp-session-wins-over-the-legacy-one",
    ),
    pytest.param(
        event(context={"is_premium": None, "error_code": None, "locale": "en"}),
        base_item(event_name="app-init", locale="en"),
        id="a-none-context-value-is-left-out",
    ),
    pytest.param(
        event(context={"is_premium": True, "platform": "tdesktop", "locale": "en", "x": 1}),
        base_item(event_name="app-init", is_premium=True, platform="tdesktop", locale="en"),
        id="documented-name-context-to-top-level-unknown-context-ignored",
    ),
    pytest.param(
        event(name="purchase-success", properties={"stars": 50}),
        base_item(event_name="purchase-success", custom_data={"stars": 50}),
        id="documented-name-properties-in-custom-data",
    ),
    pytest.param(
        event(name="signup", properties={"plan": "pro", "event_name": "spoofed"}),
        base_item(event_name="custom-event", custom_data={"event_name": "signup", "plan": "pro"}),
        id="other-name-goes-as-custom-event-and-keeps-its-name",
    ),
    pytest.param(
        event(name="signup"),
        base_item(event_name="custom-event", custom_data={"event_name": "signup"}),
        id="other-name-without-properties",
    ),
    pytest.param(
        event(occurred_at="2025-04-01T12:33:19.534+02:00", context={"from": "EQx", "scope": "s"}),
        base_item(event_name="app-init", **{"from": "EQx", "scope": "s"}),
        id="ms-timestamp-independent-of-offset",
    ),
]


@pytest.mark.parametrize(("given", "expected"), MAPPING)
def test_maps_one_event_to_one_array_item(given: Event, expected: dict[str, Any]) -> None:
    request = provider().build_request([given])
    assert_post(request, "https://tganalytics.xyz/events", HEADERS, [expected])


def test_sends_a_batch_as_one_array_to_the_configured_url() -> None:
    request = provider(base_url="http://localhost:8081/").build_request(
        [event(), event(event_id="e2", name="app-hide")]
    )
    assert request.url == "http://localhost:8081/events"
    assert [item["event_name"] for item in request.body] == ["app-init", "app-hide"]


def test_client_timestamp_is_exact_milliseconds() -> None:
    item = provider().build_request([event(occurred_at="1970-01-01T00:00:00.001+00:00")]).body[0]
    assert item["client_timestamp"] == "1"


SKIPS = [
    pytest.param(event(telegram_id=None), "no telegram_id", id="no-telegram-id"),
    pytest.param(event(session_id=None), "no miniapp_session_id", id="no-session-id"),
    pytest.param(event(session_id="gp_a1b2c3"), "not a UUID", id="session-not-uuid"),
    pytest.param(event(session_id=SESSION.replace("-", "")), "not a UUID", id="uuid-no-hyphens"),
    pytest.param(event(session_id=SESSION.upper()), None, id="upper-case-uuid-ok"),
    pytest.param(event(), None, id="complete"),
]


@pytest.mark.parametrize(("given", "reason"), SKIPS)
def test_skip_reason(given: Event, reason: str | None) -> None:
    assert_skip_reason(provider().skip_reason(given), reason)


TOO_MANY = {"message": "Too many requests. Try again later."}
CLASSIFY = [
    (answer(201, {"message": "Success record."}), Delivered, None),
    (answer(202, {"message": "Success record."}), Delivered, None),
    (answer(200, "not json"), Delivered, None),
    (answer(400, {"message": "Failed to record"}), Retry, "could not record"),
    (
        answer(
            400,
            {"message": "The token is not specified in the headers or is specified incorrectly."},
        ),
        Credentials,
        "token is not specified",
    ),
    (answer(400, {"message": "Token is invalid."}), Credentials, "Token is invalid."),
    (answer(400, {"message": "Invalid app_name is specified."}), Configuration, "app_name"),
    (
        answer(400, {"status": 400, "message": "VALIDATION_MISMATCH_REPORT"}),
        Reject,
        "VALIDATION_MISMATCH_REPORT",
    ),
    (answer(403, {"message": "The domain name does not match."}), Configuration, "domain name"),
    (answer(400, {"message": "The domain name does not match."}), Configuration, "domain name"),
    (answer(401, "Unauthorized"), Credentials, "Unauthorized"),
    (answer(404, {"message": "Cannot POST /event"}), Configuration, "Cannot POST /event"),
    (answer(413, "Payload Too Large"), Reject, "Payload Too Large"),
    (answer(302, ""), Retry, "unexpected answer 302"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    assert_classified(provider(), response, kind, text)


# The shared transient cases with TG Analytics' own 429 and 502 bodies, and its 429 without
# Retry-After (still pauses the provider, for no given time).
TRANSIENT = [
    *transient_cases({429: TOO_MANY, 502: "<html>bad gateway</html>"}),
    pytest.param(answer(429, TOO_MANY), "rate limited", None, True, id="429-no-retry-after"),
]


@pytest.mark.parametrize(("response", "text", "after", "throttled"), TRANSIENT)
def test_transient(response: HttpResponse, text: str, after: float | None, throttled: bool) -> None:
    assert_transient(provider(), response, text, after, throttled)


def test_failed_to_record_is_retried_without_pausing_the_provider() -> None:
    outcome = provider().classify(answer(400, {"message": "Failed to record"}))
    assert isinstance(outcome, Retry)
    assert not outcome.throttled


def test_defaults_and_registry() -> None:
    loaded = TgAnalytics.schema().load(SETTINGS)
    assert loaded.base_url == "https://tganalytics.xyz"
    assert loaded.batch_size == 20
    tga = TgAnalytics(loaded)
    assert tga.batch_size == 20
    assert tga.max_batch == 100
    assert tga.secrets == ["tga-secret-token"]
    assert REGISTRY["tganalytics"] is TgAnalytics


BAD_SETTINGS = [
    pytest.param({"token": None}, "token", id="missing-token"),
    pytest.param({"app_name": None}, "app_name", id="missing-app-name"),
    pytest.param({"app_domain": None}, "app_domain", id="missing-app-domain"),
    pytest.param({"tokn": "x"}, "tokn", id="unknown-key"),
    pytest.param({"app_name": 5}, "app_name", id="app-name-not-string"),
    pytest.param({"token": ""}, "token", id="empty-token"),
    pytest.param({"app_domain": "https://app.example.com"}, "app_domain", id="domain-with-scheme"),
    pytest.param({"app_domain": "app.example.com/x"}, "app_domain", id="domain-with-path"),
    pytest.param({"batch_size": 101}, "batch_size", id="batch-over-cap"),
    pytest.param({"batch_size": "twenty"}, "batch_size", id="batch-not-int"),
    pytest.param({"base_url": "not a url"}, "base_url", id="bad-base-url"),
]


@pytest.mark.parametrize(("change", "key"), BAD_SETTINGS)
def test_bad_settings_name_the_key(change: dict[str, Any], key: str) -> None:
    assert_bad_settings(TgAnalytics.schema, SETTINGS, change, key)


def test_domain_with_port_is_accepted_for_local_testing() -> None:
    tga = provider(app_domain="localhost:5173")
    assert tga.build_request([event()]).headers["Origin"] == "https://localhost:5173"
