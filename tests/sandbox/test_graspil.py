"""Graspil emulation: POST /v1/send-target with Api-Key, objects or arrays of 1-100, parameters
as the page types them (https://docs.graspil.com/en/api/send-event, "Sending a target event")."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import DROP, GRASPIL_HEADERS, GRASPIL_PATH, GRASPIL_TARGET, graspil_item

DATE_MESSAGE = (
    "Invalid date: RFC 3339 with milliseconds and a timezone is required, "
    "e.g. 2024-08-03T20:00:00.123+02:00"
)


def test_a_valid_object_is_accepted_and_recorded_exactly(
    sandbox: SandboxServer, post: Post
) -> None:
    item = graspil_item()
    response = post(GRASPIL_PATH, item, GRASPIL_HEADERS)
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert sandbox.received("graspil") == [item]
    [record] = sandbox.requests("graspil")
    assert record["body"] == item
    assert record["headers"]["Api-Key"] == GRASPIL_HEADERS["Api-Key"]
    assert (record["method"], record["path"], record["status"]) == ("POST", GRASPIL_PATH, 200)
    assert record["outcome"] == "accepted"


@pytest.mark.parametrize("size", [1, 2, 100])
def test_an_array_of_1_to_100_is_accepted_whole(
    sandbox: SandboxServer, post: Post, size: int
) -> None:
    items = [graspil_item(user_id=i) for i in range(size)]
    response = post(GRASPIL_PATH, items, GRASPIL_HEADERS)
    assert response.json() == {"ok": True}
    assert sandbox.received("graspil") == items


@pytest.mark.parametrize(
    "date",
    ["2024-08-03T20:00:00.123+02:00", "2024-08-03T20:00:00.123+00:00", "2024-08-03T20:00:00.123Z"],
)
def test_dates_with_milliseconds_and_offset_are_accepted(post: Post, date: str) -> None:
    assert post(GRASPIL_PATH, graspil_item(date=date), GRASPIL_HEADERS).status_code == 200


#: Items the page allows: each must be accepted.
VALID: list[dict[str, Any]] = [
    {},
    {"date": DROP, "value": DROP, "unit": DROP},
    {"value": 10, "unit": "usd"},  # the page's example value and unit
    {"unit": "XTR"},  # Telegram Stars: "similar to currencies in the TG API"
    {"unit": "EUR"},
    {"value": DROP},  # a unit alone is not refused
    {"value": 0},
    {"user_id": 1},
]


@pytest.mark.parametrize("changes", VALID, ids=[repr(c) for c in VALID])
def test_an_item_the_page_allows_is_accepted(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any]
) -> None:
    item = graspil_item(**changes)
    assert post(GRASPIL_PATH, item, GRASPIL_HEADERS).json() == {"ok": True}
    assert sandbox.received("graspil") == [item]


@pytest.mark.parametrize("target_id", [1, 999, -12, 0])
def test_a_target_the_bot_does_not_have_is_unknown(
    sandbox: SandboxServer, post: Post, target_id: int
) -> None:
    response = post(GRASPIL_PATH, graspil_item(target_id=target_id), GRASPIL_HEADERS)
    expected = {"ok": False, "error": {"target_id": ["Unknown target_id"]}}
    assert (response.status_code, response.json()) == (400, expected)
    assert sandbox.received("graspil") == []


def test_the_targets_setting_names_the_bots_goals(sandbox: SandboxServer, post: Post) -> None:
    sandbox.set_credentials("graspil", targets=[1])
    assert post(GRASPIL_PATH, graspil_item(target_id=1), GRASPIL_HEADERS).status_code == 200
    refused = post(GRASPIL_PATH, graspil_item(target_id=GRASPIL_TARGET), GRASPIL_HEADERS)
    assert refused.json()["error"] == {"target_id": ["Unknown target_id"]}


@pytest.mark.parametrize(
    ("headers", "case"),
    [({}, "missing"), ({"Api-Key": "wrong"}, "wrong"), ({"api-key": "wrong"}, "lower-case name")],
)
def test_a_missing_or_wrong_key_is_401(
    sandbox: SandboxServer, post: Post, headers: dict[str, str], case: str
) -> None:
    response = post(GRASPIL_PATH, graspil_item(), headers)
    assert response.status_code == 401, case
    assert response.json() == {"ok": False, "error": {"api_key": ["Invalid API key"]}}
    assert sandbox.received("graspil") == []


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"target_id": DROP}, {"target_id": ["This field is required"]}),
        ({"user_id": DROP}, {"user_id": ["This field is required"]}),
        ({"user_id": "5842703839"}, {"user_id": ["Must be an integer"]}),
        ({"target_id": True}, {"target_id": ["Must be an integer"]}),
        ({"target_id": "12"}, {"target_id": ["Must be an integer"]}),
        ({"target_id": 12.0}, {"target_id": ["Must be an integer"]}),
        ({"user_id": 5842703839.5}, {"user_id": ["Must be an integer"]}),
        # The page's own examples have no milliseconds; its text requires them.
        ({"date": "2023-12-31T20:00:00+01:00"}, {"date": [DATE_MESSAGE]}),
        ({"date": "2024-08-03 20:00:00.123+02:00"}, {"date": [DATE_MESSAGE]}),
        ({"date": "2024-08-03T20:00:00.123456+02:00"}, {"date": [DATE_MESSAGE]}),
        ({"value": True}, {"value": ["Must be a number"]}),
        ({"unit": ""}, {"unit": ["Must be a string of at most 3 characters"]}),
        ({"unit": 840}, {"unit": ["Must be a string of at most 3 characters"]}),
        ({"date": "2024-08-03T20:00:00+02:00"}, {"date": [DATE_MESSAGE]}),
        ({"date": "2024-08-03T20:00:00.123"}, {"date": [DATE_MESSAGE]}),
        ({"date": "2024-13-03T20:00:00.123+02:00"}, {"date": [DATE_MESSAGE]}),
        ({"date": 1722715200123}, {"date": [DATE_MESSAGE]}),
        ({"value": "10"}, {"value": ["Must be a number"]}),
        ({"unit": DROP}, {"unit": ["Required when value is present"]}),
        ({"unit": "usdt"}, {"unit": ["Must be a string of at most 3 characters"]}),
    ],
)
def test_a_bad_item_is_400_naming_the_field(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    response = post(GRASPIL_PATH, graspil_item(**changes), GRASPIL_HEADERS)
    assert (response.status_code, response.json()) == (400, {"ok": False, "error": errors})
    assert sandbox.received("graspil") == []
    assert sandbox.requests("graspil")[0]["outcome"] == "rejected"


def test_one_bad_item_rejects_the_whole_array(sandbox: SandboxServer, post: Post) -> None:
    items = [graspil_item(), graspil_item(user_id="x"), graspil_item()]
    response = post(GRASPIL_PATH, items, GRASPIL_HEADERS)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": {"user_id": ["Must be an integer"]}}
    assert sandbox.received("graspil") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([graspil_item()] * 101, "From 1 to 100 events per request"),
        ([], "From 1 to 100 events per request"),
        ("text", "Expected an event object or an array of event objects"),
        (b"{not json", "Invalid JSON"),
        ([graspil_item(), 7], "Each event must be a JSON object"),
    ],
)
def test_a_bad_body_is_400(sandbox: SandboxServer, post: Post, body: Any, message: str) -> None:
    response = post(GRASPIL_PATH, body, GRASPIL_HEADERS)
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": {"body": [message]}},
    )
    assert sandbox.received("graspil") == []
