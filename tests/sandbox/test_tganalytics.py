"""TG Analytics emulation: POST /events with TGA-Auth-Token and the app's Origin/Referer, every
field typed as the page types it (https://docs.tganalytics.xyz/, "POST /events")."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import DROP, TGA_DOMAIN, TGA_HEADERS, TGA_PATH, tga_event

TOKEN = TGA_HEADERS["TGA-Auth-Token"]
NO_TOKEN = "The token is not specified in the headers or is specified incorrectly."
AUTH_TYPE = "auth_type must be 0 (ton_addr) or 1 (ton_proof)"
MESSAGES = "messages must be an array of {address: string, amount: string}"


def mismatch(*errors: tuple[int | None, str, str]) -> dict[str, Any]:
    listed = [{"index": i, "property": p, "message": m} for i, p, m in errors]
    return {"status": 400, "message": "VALIDATION_MISMATCH_REPORT", "errors": listed}


def test_a_valid_array_is_201_and_recorded_exactly(sandbox: SandboxServer, post: Post) -> None:
    events = [tga_event(), tga_event(event_name="custom-event", custom_data={"plan": "pro"})]
    response = post(TGA_PATH, events, TGA_HEADERS)
    assert (response.status_code, response.json()) == (201, {"message": "Success record."})
    assert sandbox.received("tganalytics") == events
    [record] = sandbox.requests("tganalytics")
    assert record["headers"]["TGA-Auth-Token"] == TOKEN
    assert record["headers"]["Origin"] == f"https://{TGA_DOMAIN}"
    assert (record["status"], record["outcome"]) == (201, "accepted")


def test_a_single_object_is_accepted_too(sandbox: SandboxServer, post: Post) -> None:
    assert post(TGA_PATH, tga_event(), TGA_HEADERS).status_code == 201
    assert sandbox.received("tganalytics") == [tga_event()]


@pytest.mark.parametrize(
    "domain_headers",
    [
        {"Origin": f"https://{TGA_DOMAIN}"},
        {"Referer": f"https://{TGA_DOMAIN}/some/page"},
        {"Origin": f"https://{TGA_DOMAIN}", "Referer": f"https://{TGA_DOMAIN}/"},
    ],
)
def test_origin_or_referer_of_the_app_domain_passes(
    post: Post, domain_headers: dict[str, str]
) -> None:
    headers = {"TGA-Auth-Token": TOKEN, **domain_headers}
    assert post(TGA_PATH, [tga_event()], headers).status_code == 201


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Origin": f"https://{TGA_DOMAIN}"}, 400, NO_TOKEN),
        ({**TGA_HEADERS, "TGA-Auth-Token": ""}, 400, NO_TOKEN),
        ({**TGA_HEADERS, "TGA-Auth-Token": "wrong"}, 400, "Token is invalid."),
        ({"TGA-Auth-Token": TOKEN}, 403, "The domain name does not match."),
        (
            {"TGA-Auth-Token": TOKEN, "Origin": "https://evil.test"},
            403,
            "The domain name does not match.",
        ),
        ({**TGA_HEADERS, "Referer": "https://evil.test/"}, 403, "The domain name does not match."),
        ({**TGA_HEADERS, "Origin": f"http://{TGA_DOMAIN}"}, 403, "The domain name does not match."),
    ],
)
def test_token_and_domain_errors(
    sandbox: SandboxServer, post: Post, headers: dict[str, str], status: int, message: str
) -> None:
    response = post(TGA_PATH, [tga_event()], headers)
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert sandbox.received("tganalytics") == []


def test_an_app_name_other_than_the_tokens_is_400(sandbox: SandboxServer, post: Post) -> None:
    response = post(TGA_PATH, [tga_event(), tga_event(app_name="other")], TGA_HEADERS)
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Invalid app_name is specified."},
    )
    assert sandbox.received("tganalytics") == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"user_id": DROP}, "user_id", "user_id must be a number"),
        ({"user_id": "111"}, "user_id", "user_id must be a number"),
        ({"event_name": DROP}, "event_name", "event_name must be a non-empty string"),
        ({"session_id": "not-a-uuid"}, "session_id", "session_id must be a UUID"),
        ({"app_name": DROP}, "app_name", "app_name must be a non-empty string"),
        ({"is_premium": "yes"}, "is_premium", "is_premium must be a boolean"),
        ({"custom_data": []}, "custom_data", "custom_data must be an object"),
        (
            {"client_timestamp": 1743503599534},
            "client_timestamp",
            "client_timestamp must be a string",
        ),
        ({"user_id": True}, "user_id", "user_id must be a number"),
        ({"event_name": 1}, "event_name", "event_name must be a non-empty string"),
        ({"session_id": DROP}, "session_id", "session_id must be a UUID"),
        ({"session_id": "gp_a1b2c3"}, "session_id", "session_id must be a UUID"),
        ({"app_name": 5}, "app_name", "app_name must be a non-empty string"),
        ({"is_premium": 1}, "is_premium", "is_premium must be a boolean"),
        ({"is_success": "false"}, "is_success", "is_success must be a boolean"),
        ({"error_code": "E42"}, "error_code", "error_code must be a number"),
        ({"error_message": 42}, "error_message", "error_message must be a string"),
        ({"auth_type": "ton_proof"}, "auth_type", AUTH_TYPE),
        ({"auth_type": 2}, "auth_type", AUTH_TYPE),
        ({"auth_type": True}, "auth_type", AUTH_TYPE),
        ({"messages": {"address": "EQ", "amount": "1"}}, "messages", MESSAGES),
        ({"messages": [{"address": "EQ", "amount": 1}]}, "messages", MESSAGES),
        ({"messages": [{"address": "EQ"}]}, "messages", MESSAGES),
        ({"messages": ["EQ"]}, "messages", MESSAGES),
        ({"custom_data": "plan=pro"}, "custom_data", "custom_data must be an object"),
        ({"valid_until": 1743503599}, "valid_until", "valid_until must be a string"),
        ({"from": 1}, "from", "from must be a string"),
        ({"wallet_address": 1}, "wallet_address", "wallet_address must be a string"),
        ({"platform": ["tdesktop"]}, "platform", "platform must be a string"),
        ({"locale": 1}, "locale", "locale must be a string"),
        ({"start_param": 1}, "start_param", "start_param must be a string"),
        ({"url_referer": 1}, "url_referer", "url_referer must be a string"),
        ({"scope": 1}, "scope", "scope must be a string"),
    ],
)
def test_a_bad_event_is_a_validation_mismatch_report(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any], field: str, message: str
) -> None:
    response = post(TGA_PATH, [tga_event(), tga_event(**changes)], TGA_HEADERS)
    assert response.status_code == 400
    assert response.json() == mismatch((1, field, message))
    assert sandbox.received("tganalytics") == []


#: Events the page allows (its three examples first): each must be recorded.
VALID: list[dict[str, Any]] = [
    {},
    {
        "event_name": "connection-started",
        "custom_data": {"ton_connect_sdk_lib": "3.0.3", "ton_connect_ui_lib": "2.0.5"},
    },
    {
        "event_name": "connection-error",
        "is_success": False,
        "error_message": "Connection was cancelled",
        "error_code": None,
    },
    {"user_id": 111111111.0},
    {"is_premium": DROP, "platform": DROP, "locale": DROP, "client_timestamp": DROP},
    {"error_code": 300},
    {"auth_type": 0},
    {"auth_type": 1},
    {"messages": [{"address": "EQ-addr", "amount": "1000000"}]},
    {"messages": []},
    {
        "event_name": "transaction-sent-for-signature",
        "wallet_address": "0:abc",
        "wallet_type": "tonkeeper",
        "wallet_version": "3.0",
        "valid_until": "1743503999",
        "from": "0:abc",
        "start_param": "ref-1",
        "url_referer": "https://app.example.test/",
        "scope": "ton-connect",
    },
    {"custom_data": {}},
    {"some_future_field": "x"},
]


@pytest.mark.parametrize("changes", VALID, ids=[repr(sorted(c)) for c in VALID])
def test_an_event_the_page_allows_is_recorded(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any]
) -> None:
    event = tga_event(**changes)
    response = post(TGA_PATH, [event], TGA_HEADERS)
    assert response.status_code == 201, response.text
    assert sandbox.received("tganalytics") == [event]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body must be an array of one or more events"),
        ("text", "body must be an array of one or more events"),
    ],
)
def test_an_empty_or_non_array_body_is_a_mismatch(post: Post, body: Any, message: str) -> None:
    response = post(TGA_PATH, body, TGA_HEADERS)
    assert (response.status_code, response.json()) == (400, mismatch((None, "body", message)))


def test_invalid_json_is_a_mismatch(post: Post) -> None:
    response = post(TGA_PATH, b"[{", TGA_HEADERS)
    assert response.status_code == 400
    assert response.json()["message"] == "VALIDATION_MISMATCH_REPORT"
    assert response.json()["errors"][0]["property"] == "body"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"message": "Too many requests. Try again later."}),
        (400, {"message": "Failed to record"}),
        (503, {"error": "sandbox fault 503"}),
    ],
)
def test_injected_faults_use_the_documented_bodies(
    sandbox: SandboxServer, post: Post, status: int, body: dict[str, Any]
) -> None:
    sandbox.add_fault("tganalytics", status, count=1)
    response = post(TGA_PATH, [tga_event()], TGA_HEADERS)
    assert (response.status_code, response.json()) == (status, body)
    assert sandbox.received("tganalytics") == []
    assert post(TGA_PATH, [tga_event()], TGA_HEADERS).status_code == 201
