"""GramPixel: one-event mapping, value rules, ok-flag classification, event_id, settings."""

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
from tracking_worker.providers.grampixel import GramPixel

WORKSPACE = "3f1c2a4e-9b7d-4e21-8c55-0a1b2c3d4e5f"
SETTINGS = {
    "api_key": "gp-secret-key",
    "workspace_id": WORKSPACE,
    "events": {"purchase": "Purchase", "first_deposit": "FTD", "signup": "REG"},
}
HEADERS = {"x-api-key": "gp-secret-key", "Content-Type": "application/json"}
SUCCESS = {
    "ok": True,
    "data": {"event_id": "evt_89237498237", "session_id": "gp_a1b2c3", "status": "processed"},
}


def provider(**settings: Any) -> GramPixel:
    return load_provider(GramPixel, SETTINGS, **settings)


event = event_factory(telegram_id=123456789, value=150.0, currency="USD")


MAPPING = [
    pytest.param(
        event(session_id="gp_a1b2c3", properties={"plan": "premium"}),
        {
            "event_name": "Purchase",
            "telegram_id": 123456789,
            "workspace_id": WORKSPACE,
            "session_id": "gp_a1b2c3",
            "value": 150,
            "currency": "USD",
            "user_data": {"plan": "premium"},
        },
        id="mapped-name-with-session-value-and-user-data",
    ),
    pytest.param(
        event(name="first_deposit", value=10.5, currency="EUR"),
        {
            "event_name": "FTD",
            "telegram_id": 123456789,
            "workspace_id": WORKSPACE,
            "value": 10.5,
            "currency": "EUR",
        },
        id="session-optional-empty-properties-omitted",
    ),
    pytest.param(
        event(name="joined_channel", value=None, currency=None),
        {"event_name": "joined_channel", "telegram_id": 123456789, "workspace_id": WORKSPACE},
        id="unmapped-name-passes-unchanged-without-value",
    ),
    pytest.param(
        event(
            name="joined_channel",
            value=None,
            currency=None,
            session_id="6f1c2a4e-9b7d-4e21-8c55-0a1b2c3d4e5f",
        ),
        {"event_name": "joined_channel", "telegram_id": 123456789, "workspace_id": WORKSPACE},
        id="foreign-session-id-left-for-grampixel-to-resolve",
    ),
    pytest.param(
        event(ad_session_id="fb_9c1d", session_id="6f1c2a4e-9b7d-4e21-8c55-0a1b2c3d4e5f"),
        {
            "event_name": "Purchase",
            "telegram_id": 123456789,
            "workspace_id": WORKSPACE,
            "session_id": "fb_9c1d",  # gp_a1b2c3 is the document's example, not a prefix
            "value": 150,
            "currency": "USD",
        },
        id="any-ad-session-sent-beside-a-miniapp-session",
    ),
    pytest.param(
        event(name="registration", value=None, currency=None),
        {"event_name": "REG", "telegram_id": 123456789, "workspace_id": WORKSPACE},
        id="registration-is-REG-by-default",
    ),
    pytest.param(
        event(value=None, currency=None),
        {"event_name": "Purchase", "telegram_id": 123456789, "workspace_id": WORKSPACE},
        id="purchase-without-value-is-sent",
    ),
]

DEFAULT_KEYS = {
    "purchase": "Purchase",
    "registration": "REG",
    "first_deposit": "FTD",
    "deposit": "DEP",
    "subscribe": "Subscribe",
    "join_request": "JoinRequest",
    "install": "INSTALL",
    "trial": "TRIAL",
}


@pytest.mark.parametrize(("ours", "key"), DEFAULT_KEYS.items())
def test_our_names_go_as_its_standard_keys_by_default(ours: str, key: str) -> None:
    gp = provider(events={})
    assert gp.build_request([event(name=ours)]).body["event_name"] == key


def test_the_events_setting_overrides_a_default_name_by_name() -> None:
    gp = provider(events={"registration": "signup_done", "lead": "Subscribe"})
    sent = {n: gp.build_request([event(name=n)]).body["event_name"] for n in DEFAULT_KEYS}
    assert sent == {**DEFAULT_KEYS, "registration": "signup_done"}
    assert gp.build_request([event(name="lead")]).body["event_name"] == "Subscribe"


@pytest.mark.parametrize(("given", "body"), MAPPING)
def test_maps_one_event_to_one_request(given: Event, body: dict[str, Any]) -> None:
    request = provider().build_request([given])
    assert_post(request, "https://api.grampixel.com/v1/events/custom", HEADERS, body)


def test_base_url_and_path_are_configurable() -> None:
    gp = provider(base_url="http://localhost:8082/", path="/api/v1/events/custom")
    assert gp.build_request([event()]).url == "http://localhost:8082/api/v1/events/custom"


def test_refuses_to_map_more_than_one_event() -> None:
    with pytest.raises(ValueError):
        provider().build_request([event(), event(event_id="e2")])


SKIPS = [
    pytest.param(event(telegram_id=None), "no telegram_id", id="no-telegram-id"),
    # "Required for FTD, DEP, Purchase events for ROAS tracking": a conversion without a
    # value is still one, and is sent.
    pytest.param(event(value=None, currency=None), None, id="purchase-without-value-sent"),
    pytest.param(event(name="first_deposit", value=None), None, id="ftd-without-value-sent"),
    pytest.param(event(name="DEP", value=None), None, id="dep-without-value-sent"),
    pytest.param(event(currency="XTR"), "currency XTR", id="telegram-stars-not-iso-4217"),
    pytest.param(event(name="signup", value=None), None, id="reg-needs-no-value"),
    pytest.param(event(name="custom_thing", value=None), None, id="custom-needs-no-value"),
    pytest.param(event(value=0.0), None, id="zero-value-is-a-value"),
    pytest.param(event(), None, id="complete"),
]


@pytest.mark.parametrize(("given", "reason"), SKIPS)
def test_skip_reason(given: Event, reason: str | None) -> None:
    assert_skip_reason(provider().skip_reason(given), reason)


CLASSIFY = [
    (answer(200, SUCCESS), Delivered, None),
    (answer(201, {"ok": True}), Delivered, None),
    (answer(200, {"ok": False, "error": "Unknown workspace"}), Reject, "Unknown workspace"),
    (answer(200, "<html>proxy</html>"), Retry, "unexpected answer 200"),
    (answer(200, {"status": "queued"}), Retry, "unexpected answer 200"),
    (answer(400, {"ok": False, "error": "value is required"}), Reject, "value is required"),
    (answer(422, {"ok": False, "error": {"message": "bad telegram_id"}}), Reject, "telegram_id"),
    (answer(400, {"message": "invalid currency"}), Reject, "invalid currency"),
    (answer(404, "Not Found"), Configuration, "check base_url and path"),
    (answer(401, {"ok": False, "error": "Invalid API key"}), Credentials, "Invalid API key"),
    (answer(403, ""), Credentials, "403"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    assert_classified(provider(), response, kind, text)


@pytest.mark.parametrize(("response", "text", "after", "throttled"), TRANSIENT)
def test_transient(response: HttpResponse, text: str, after: float | None, throttled: bool) -> None:
    assert_transient(provider(), response, text, after, throttled)


@pytest.mark.parametrize(
    ("response", "note"),
    [(answer(200, SUCCESS), "evt_89237498237"), (answer(200, {"ok": True}), "")],
)
def test_describe_success_is_grampixel_event_id(response: HttpResponse, note: str) -> None:
    assert provider().describe_success(response) == note


def test_defaults_and_registry() -> None:
    loaded = GramPixel.schema().load({"api_key": "k", "workspace_id": WORKSPACE.upper()})
    assert loaded.workspace_id == WORKSPACE
    assert loaded.events == {}
    assert loaded.base_url == "https://api.grampixel.com"
    assert loaded.path == "/v1/events/custom"
    assert GramPixel(loaded).batch_size == 1
    assert provider().secrets == ["gp-secret-key"]
    assert REGISTRY["grampixel"] is GramPixel


BAD_SETTINGS = [
    pytest.param({"api_key": None}, "api_key", id="missing-api-key"),
    pytest.param({"api_key": ""}, "api_key", id="empty-api-key"),
    pytest.param({"workspace_id": None}, "workspace_id", id="missing-workspace"),
    pytest.param({"workspace_id": "uuid-of-workspace"}, "workspace_id", id="workspace-not-uuid"),
    pytest.param({"workspace_id": 42}, "workspace_id", id="workspace-not-string"),
    pytest.param({"events": {"purchase": 5}}, "events", id="event-name-not-string"),
    pytest.param({"events": ["Purchase"]}, "events", id="events-not-mapping"),
    pytest.param({"path": "v1/events/custom"}, "path", id="path-without-slash"),
    pytest.param({"apikey": "x"}, "apikey", id="unknown-key"),
]


@pytest.mark.parametrize(("change", "key"), BAD_SETTINGS)
def test_bad_settings_name_the_key(change: dict[str, Any], key: str) -> None:
    assert_bad_settings(GramPixel.schema, SETTINGS, change, key)
