"""Giosg emulation: POST /api/v5/orgs/<org>/goals/<goal>/matches with Authorization: Token,
attributes as the External Goal Match API types them (giosg's Goals API page,
https://docs.giosg.com/api_reference/giosg_live/giosg_http_api/goals/)."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import DEFAULT_CREDENTIALS, SandboxServer

from .conftest import Post
from .payloads import DROP, GIOSG_GOAL, GIOSG_HEADERS, GIOSG_ORG, GIOSG_PATH, ROOM, giosg_match

OTHER_UUID = "00000000-0000-4000-8000-000000000000"
NOT_A_NUMBER = "A valid number is required."
TOO_PRECISE = "Ensure that there are no more than 2 decimal places."
DATETIME = "Datetime has wrong format; use ISO 8601."
ROOMS = "Must be a non-empty array of room UUIDs."
NO_ROOMS = "There is no connected rooms found for visitor session."


def test_a_valid_match_is_200_with_the_created_match(sandbox: SandboxServer, post: Post) -> None:
    match = giosg_match()
    response = post(GIOSG_PATH, match, GIOSG_HEADERS)
    assert response.status_code == 200
    created = response.json()
    assert created["organization_id"] == GIOSG_ORG
    assert created["goal_id"] == GIOSG_GOAL
    assert {k: created[k] for k in match} == match
    assert created["id"] and created["created_at"].endswith("Z")
    assert sandbox.received("giosg") == [match]
    [record] = sandbox.requests("giosg")
    assert record["headers"]["Authorization"] == GIOSG_HEADERS["Authorization"]


def test_every_configured_goal_is_accepted(post: Post) -> None:
    for goal in DEFAULT_CREDENTIALS["giosg"]["goals"]:
        path = f"/api/v5/orgs/{GIOSG_ORG}/goals/{goal}/matches"
        assert post(path, giosg_match(), GIOSG_HEADERS).status_code == 200


#: Matches the page allows: each must be answered 200.
VALID: list[dict[str, Any]] = [
    {},  # the page's example, with the sandbox's room
    {"goal_value": DROP},
    {"goal_value": None},
    {"goal_value": "123.4"},
    {"goal_value": "123"},
    {"goal_value": "0.30"},
    {"goal_value": 123.45},
    {"goal_value": 10.5},
    {"goal_value": 10},
    {"goal_value": 0.3},
    {"goal_matched_at": "2016-10-10T22:00:49+03:00"},
    {"goal_matched_at": "2016-10-10T22:00:49.123456Z"},
    {"rooms": [ROOM, OTHER_UUID]},
    {"rooms": [ROOM.upper()]},
]


@pytest.mark.parametrize("changes", VALID, ids=[repr(c) for c in VALID])
def test_a_match_the_page_allows_is_accepted(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any]
) -> None:
    match = giosg_match(**changes)
    response = post(GIOSG_PATH, match, GIOSG_HEADERS)
    assert response.status_code == 200, response.text
    assert sandbox.received("giosg") == [match]


@pytest.mark.parametrize(
    ("path", "headers", "status", "detail"),
    [
        (GIOSG_PATH, {}, 401, "Authentication credentials were not provided."),
        (GIOSG_PATH, {"Authorization": "Token wrong"}, 401, "Invalid token."),
        (GIOSG_PATH, {"Authorization": "Bearer sandbox-giosg-token"}, 401, "Invalid token."),
        (
            f"/api/v5/orgs/{OTHER_UUID}/goals/{GIOSG_GOAL}/matches",
            GIOSG_HEADERS,
            403,
            "You do not have access to the organization.",
        ),
        (
            f"/api/v5/orgs/{GIOSG_ORG}/goals/{OTHER_UUID}/matches",
            GIOSG_HEADERS,
            404,
            "Goal was not found.",
        ),
    ],
)
def test_auth_organization_and_goal_errors(
    sandbox: SandboxServer, post: Post, path: str, headers: dict[str, str], status: int, detail: str
) -> None:
    response = post(path, giosg_match(), headers)
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert sandbox.received("giosg") == []


def test_an_unknown_visitor_has_no_session(sandbox: SandboxServer, post: Post) -> None:
    response = post(GIOSG_PATH, giosg_match(visitor_identity="unknown-visitor"), GIOSG_HEADERS)
    assert response.status_code == 404
    assert response.json() == {"detail": "No session is found for 'visitor_identity'."}
    assert sandbox.received("giosg") == []


def test_rooms_none_of_which_is_connected_are_404(sandbox: SandboxServer, post: Post) -> None:
    match = giosg_match(rooms=[OTHER_UUID, "e6a850ca-e1d3-11e4-9706-38b1dbe48b5b"])
    response = post(GIOSG_PATH, match, GIOSG_HEADERS)
    assert (response.status_code, response.json()) == (404, {"detail": NO_ROOMS})
    assert sandbox.received("giosg") == []


def test_the_rooms_setting_names_the_connected_rooms(sandbox: SandboxServer, post: Post) -> None:
    sandbox.set_credentials("giosg", rooms=[OTHER_UUID])
    assert post(GIOSG_PATH, giosg_match(rooms=[OTHER_UUID]), GIOSG_HEADERS).status_code == 200
    assert post(GIOSG_PATH, giosg_match(), GIOSG_HEADERS).status_code == 404


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"visitor_identity": DROP}, {"visitor_identity": ["This field is required."]}),
        ({"goal_matched_at": DROP}, {"goal_matched_at": ["This field is required."]}),
        ({"rooms": DROP}, {"rooms": ["This field is required."]}),
        (
            {"visitor_identity": DROP, "rooms": DROP},
            {"visitor_identity": ["This field is required."], "rooms": ["This field is required."]},
        ),
        ({"visitor_identity": 12}, {"visitor_identity": ["Must be a non-empty string."]}),
        ({"goal_matched_at": "yesterday"}, {"goal_matched_at": [DATETIME]}),
        ({"rooms": []}, {"rooms": [ROOMS]}),
        ({"rooms": ["room-1"]}, {"rooms": [ROOMS]}),
        ({"goal_value": "lots"}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": 0.1 + 0.2}, {"goal_value": [TOO_PRECISE]}),
        ({"goal_value": "0.30000000000000004"}, {"goal_value": [TOO_PRECISE]}),
        ({"goal_value": "12.345"}, {"goal_value": [TOO_PRECISE]}),
        ({"goal_value": 19.999}, {"goal_value": [TOO_PRECISE]}),
        ({"goal_value": 1e21}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": "1e+21"}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": "1E2"}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": 1e-05}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": "NaN"}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": "Infinity"}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": True}, {"goal_value": [NOT_A_NUMBER]}),
        ({"goal_value": {"amount": "1.00"}}, {"goal_value": [NOT_A_NUMBER]}),
        ({"rooms": "e6a850ca-e1d3-11e4-9706-38b1dbe48b5b"}, {"rooms": [ROOMS]}),
        # The page's own example rooms end in "h" and "g": not hexadecimal, so not UUIDs.
        ({"rooms": ["ac83d426-be80-4d75-8c62-49a77f98468h"]}, {"rooms": [ROOMS]}),
        ({"goal_matched_at": 1476136849}, {"goal_matched_at": [DATETIME]}),
        ({"goal_matched_at": "2016-13-10T22:00:49Z"}, {"goal_matched_at": [DATETIME]}),
    ],
)
def test_missing_or_bad_attributes_are_400(
    sandbox: SandboxServer, post: Post, changes: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    response = post(GIOSG_PATH, giosg_match(**changes), GIOSG_HEADERS)
    assert (response.status_code, response.json()) == (400, errors)
    assert sandbox.received("giosg") == []


@pytest.mark.parametrize("body", [[{"visitor_identity": "x"}], b"{oops"])
def test_a_payload_in_wrong_format_is_400(post: Post, body: Any) -> None:
    response = post(GIOSG_PATH, body, GIOSG_HEADERS)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The request payload is in wrong format")
