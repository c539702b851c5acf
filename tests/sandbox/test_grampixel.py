"""GramPixel emulation: POST /v1/events/custom with x-api-key, one event, fields as the page types
them (the page: https://grampixel.com/api-docs, "Send Custom Event")."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import DROP, GRAMPIXEL_HEADERS, GRAMPIXEL_PATH, grampixel_event

OTHER_PATH = "/api/v1/events/custom"

#: Bodies the page allows: each must be processed.
VALID: list[tuple[str, dict[str, Any]]] = [
    ("the page's example", grampixel_event()),
    *[
        (f"standard key {key}", grampixel_event(event_name=key))
        for key in ("FTD", "DEP", "REG", "Subscribe", "JoinRequest", "Purchase", "INSTALL", "TRIAL")
    ],
    ("a custom name", grampixel_event(event_name="level_up", value=DROP, currency=DROP)),
    (
        "only the required fields",
        {k: grampixel_event()[k] for k in ("event_name", "telegram_id", "workspace_id")},
    ),
    ("FTD without value (optional, for ROAS)", grampixel_event(value=DROP, currency=DROP)),
    ("Purchase without value", grampixel_event(event_name="Purchase", value=DROP)),
    ("a session id that is no gp_ id", grampixel_event(session_id="abc-123")),
    ("a UUID session id", grampixel_event(session_id="10c574d9-6d2c-4e6d-a141-ce6da141ce6d")),
    ("an integer value", grampixel_event(value=150)),
    ("currency EUR", grampixel_event(currency="EUR")),
    ("currency JPY", grampixel_event(currency="JPY")),
    ("an ISO 4217 funds code", grampixel_event(currency="XAU")),
    ("empty user_data", grampixel_event(user_data={})),
]

#: Bodies the page does not allow: each must be refused 400 naming the field.
INVALID: list[tuple[Any, str]] = [
    ([grampixel_event()], "Expected one event object per request, not an array"),
    ("FTD", "Expected a JSON object"),
    (grampixel_event(event_name=DROP), "event_name is required and must be a string"),
    (grampixel_event(event_name=7), "event_name is required and must be a string"),
    (grampixel_event(telegram_id=DROP), "telegram_id is required and must be an integer"),
    (grampixel_event(telegram_id="123"), "telegram_id is required and must be an integer"),
    (grampixel_event(telegram_id=1.5), "telegram_id is required and must be an integer"),
    (grampixel_event(telegram_id=True), "telegram_id is required and must be an integer"),
    (grampixel_event(workspace_id=DROP), "workspace_id is required and must be a UUID"),
    (
        grampixel_event(workspace_id="uuid-of-workspace"),
        "workspace_id is required and must be a UUID",
    ),
    (grampixel_event(value="150"), "value must be a number"),
    (grampixel_event(value=None), "value must be a number"),
    (grampixel_event(currency="ABC"), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(currency="XTR"), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(currency="US"), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(currency="USDT"), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(currency="usd"), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(currency=840), "currency must be a 3-letter ISO 4217 code"),
    (grampixel_event(session_id=7), "session_id must be a string"),
    (grampixel_event(user_data="premium"), "user_data must be an object"),
    (grampixel_event(user_data=["premium"]), "user_data must be an object"),
]


@pytest.mark.parametrize("event", [e for _, e in VALID], ids=[name for name, _ in VALID])
def test_a_body_the_page_allows_is_processed_and_recorded_exactly(
    sandbox: SandboxServer, post: Post, event: dict[str, Any]
) -> None:
    response = post(GRAMPIXEL_PATH, event, GRAMPIXEL_HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["data"]["event_id"].startswith("evt_")
    assert body["data"]["status"] == "processed"
    assert sandbox.received("grampixel") == [event]
    [record] = sandbox.requests("grampixel")
    assert record["headers"]["x-api-key"] == GRAMPIXEL_HEADERS["x-api-key"]


@pytest.mark.parametrize(("body", "message"), INVALID, ids=[m for _, m in INVALID])
def test_a_body_the_page_does_not_allow_is_400_naming_the_field(
    sandbox: SandboxServer, post: Post, body: Any, message: str
) -> None:
    response = post(GRAMPIXEL_PATH, body, GRAMPIXEL_HEADERS)
    assert (response.status_code, response.json()) == (400, {"ok": False, "error": message})
    assert sandbox.received("grampixel") == []


def test_the_session_id_sent_is_echoed_and_a_missing_one_is_resolved(post: Post) -> None:
    sent = post(GRAMPIXEL_PATH, grampixel_event(session_id="abc-123"), GRAMPIXEL_HEADERS)
    assert sent.json()["data"]["session_id"] == "abc-123"
    event = grampixel_event(event_name="REG", session_id=DROP, value=DROP, currency=DROP)
    data = post(GRAMPIXEL_PATH, event, GRAMPIXEL_HEADERS).json()["data"]
    assert data["session_id"].startswith("gp_")


@pytest.mark.parametrize("path", [OTHER_PATH, OTHER_PATH + "/"])
def test_the_path_the_page_does_not_mean_is_404(
    sandbox: SandboxServer, post: Post, path: str
) -> None:
    response = post(path, grampixel_event(), GRAMPIXEL_HEADERS)
    assert (response.status_code, response.json()) == (404, {"ok": False, "error": "Not found"})
    assert sandbox.received("grampixel") == []
    assert sandbox.requests("grampixel")[0]["outcome"] == "rejected"


def test_the_path_setting_serves_the_other_path_instead(sandbox: SandboxServer, post: Post) -> None:
    sandbox.set_credentials("grampixel", path=OTHER_PATH)
    assert post(OTHER_PATH, grampixel_event(), GRAMPIXEL_HEADERS).status_code == 200
    assert post(GRAMPIXEL_PATH, grampixel_event(), GRAMPIXEL_HEADERS).status_code == 404
    assert post(GRAMPIXEL_PATH + "/", grampixel_event(), GRAMPIXEL_HEADERS).status_code == 404


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
