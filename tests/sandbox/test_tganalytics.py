"""TG Analytics emulation: POST /events with TGA-Auth-Token and the app's Origin/Referer."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import DROP, TGA_DOMAIN, TGA_HEADERS, TGA_PATH, tga_event

TOKEN = TGA_HEADERS["TGA-Auth-Token"]
NO_TOKEN = "The token is not specified in the headers or is specified incorrectly."


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
    ],
)
def test_a_bad_event_is_a_validation_mismatch_report(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any], field: str, message: str
) -> None:
    response = post(TGA_PATH, [tga_event(), tga_event(**changes)], TGA_HEADERS)
    assert response.status_code == 400
    assert response.json() == mismatch((1, field, message))
    assert sandbox.received("tganalytics") == []


def test_optional_fields_may_be_null(post: Post) -> None:
    event = tga_event(event_name="connection-error", error_code=None, error_message="cancelled")
    assert post(TGA_PATH, [event], TGA_HEADERS).status_code == 201


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
