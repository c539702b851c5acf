"""GramPixel emulation: POST /v1/events/custom (and /api/v1/...) with x-api-key, one event."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import DROP, GRAMPIXEL_HEADERS, GRAMPIXEL_PATH, grampixel_event


@pytest.mark.parametrize("path", [GRAMPIXEL_PATH, "/api/v1/events/custom"])
def test_a_valid_event_is_processed_and_recorded_exactly(
    sandbox: SandboxServer, post: Post, path: str
) -> None:
    event = grampixel_event()
    response = post(path, event, GRAMPIXEL_HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["data"]["event_id"].startswith("evt_")
    assert body["data"]["session_id"] == "gp_a1b2c3"
    assert body["data"]["status"] == "processed"
    assert sandbox.received("grampixel") == [event]
    [record] = sandbox.requests("grampixel")
    assert (record["path"], record["headers"]["x-api-key"]) == (
        path,
        GRAMPIXEL_HEADERS["x-api-key"],
    )


def test_a_missing_session_id_is_resolved_to_a_gp_session(post: Post) -> None:
    event = grampixel_event(event_name="REG", session_id=DROP, value=DROP, currency=DROP)
    data = post(GRAMPIXEL_PATH, event, GRAMPIXEL_HEADERS).json()["data"]
    assert data["session_id"].startswith("gp_")


def test_event_ids_are_unique(post: Post) -> None:
    ids = {post(GRAMPIXEL_PATH, grampixel_event(), GRAMPIXEL_HEADERS).json()["data"]["event_id"]}
    ids.add(post(GRAMPIXEL_PATH, grampixel_event(), GRAMPIXEL_HEADERS).json()["data"]["event_id"])
    assert len(ids) == 2


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
def test_a_missing_or_wrong_key_is_401(
    sandbox: SandboxServer, post: Post, headers: dict[str, str]
) -> None:
    response = post(GRAMPIXEL_PATH, grampixel_event(), headers)
    assert (response.status_code, response.json()) == (
        401,
        {"ok": False, "error": "Invalid API key"},
    )
    assert sandbox.received("grampixel") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([grampixel_event()], "Expected one event object per request, not an array"),
        ("FTD", "Expected a JSON object"),
        (grampixel_event(event_name=DROP), "event_name is required and must be a string"),
        (grampixel_event(telegram_id="123"), "telegram_id is required and must be an integer"),
        (grampixel_event(workspace_id=DROP), "workspace_id is required and must be a UUID"),
        (grampixel_event(workspace_id="ws-1"), "workspace_id is required and must be a UUID"),
        (grampixel_event(value="150"), "value must be a number"),
        (grampixel_event(value=DROP), "value is required for FTD events"),
        (grampixel_event(event_name="DEP", value=DROP), "value is required for DEP events"),
        (
            grampixel_event(event_name="Purchase", value=DROP),
            "value is required for Purchase events",
        ),
        (grampixel_event(currency="US"), "currency must be a 3-letter ISO 4217 code"),
        (grampixel_event(session_id=7), "session_id must be a string"),
        (grampixel_event(user_data="premium"), "user_data must be an object"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(
    sandbox: SandboxServer, post: Post, body: Any, message: str
) -> None:
    response = post(GRAMPIXEL_PATH, body, GRAMPIXEL_HEADERS)
    assert (response.status_code, response.json()) == (400, {"ok": False, "error": message})
    assert sandbox.received("grampixel") == []


def test_invalid_json_is_400(post: Post) -> None:
    response = post(GRAMPIXEL_PATH, b"{", GRAMPIXEL_HEADERS)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid JSON body")


def test_another_workspace_is_403(sandbox: SandboxServer, post: Post) -> None:
    event = grampixel_event(workspace_id="00000000-0000-4000-8000-000000000000")
    response = post(GRAMPIXEL_PATH, event, GRAMPIXEL_HEADERS)
    assert response.status_code == 403
    assert response.json() == {"ok": False, "error": "workspace_id does not belong to this API key"}
    assert sandbox.received("grampixel") == []


def test_custom_event_names_need_no_value(post: Post) -> None:
    event = grampixel_event(event_name="level_up", value=DROP, currency=DROP)
    assert post(GRAMPIXEL_PATH, event, GRAMPIXEL_HEADERS).status_code == 200
