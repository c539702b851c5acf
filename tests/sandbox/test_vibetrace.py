"""VibeTrace emulation: POST /v1/event/ with a raw Authorization key, user + one event type, as
the page shapes them (https://help.vtcdn.net/kb/serverside-integration/, "How to send events
via API")."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker.sandbox import SandboxServer

from .conftest import Post
from .payloads import VIBETRACE_HEADERS, VIBETRACE_PATH, vibetrace_order

CREATED = {
    "results": {"message": "Event created", "email": "Event was created for the specified user"}
}
USER = {"email": "buyer@example.test"}


def _confirmation(generic: Any, items: Any) -> dict[str, Any]:
    return {"user": USER, "event": {"confirmation": {"generic": generic, "items": items}}}


def errors(message: str, description: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "description": description}]}


@pytest.mark.parametrize(
    "body",
    [
        vibetrace_order(),
        vibetrace_order(_id="customer-42"),
        {"user": USER, "event": {"update": {"firstname": "alexandru"}}},
        {"user": USER, "event": {"login": {"firstname": "alexandru"}}},
        {"user": USER, "event": {"generic": {"generic": {"event_name": "my_event", "x": 1}}}},
        {"user": {"_id": 42}, "event": {"update": {"firstname": "alexandru"}}},
        _confirmation({"orderId": 1001}, [{"id": 7, "quantity": 1}]),
        _confirmation({"orderId": "A-9"}, []),
        _confirmation({"orderId": "A-9"}, [{"id": "sku", "quantity": 0.5}]),
        _confirmation(
            {
                "orderId": "A-10",
                "total": 99.5,
                "status": "paid",
                "coupons": "WELCOME",
                "phone": "+40700000000",
                "currency": "EUR",
                "total_shipping": 5,
            },
            [{"id": "sku-1", "quantity": 2}, {"id": "sku-2", "quantity": 1}],
        ),
    ],
)
def test_each_event_type_is_created_and_recorded_exactly(
    sandbox: SandboxServer, post: Post, body: dict[str, Any]
) -> None:
    response = post(VIBETRACE_PATH, body, VIBETRACE_HEADERS)
    assert (response.status_code, response.json()) == (200, CREATED)
    assert sandbox.received("vibetrace") == [body]
    [record] = sandbox.requests("vibetrace")
    assert record["headers"]["Authorization"] == VIBETRACE_HEADERS["Authorization"]
    assert record["outcome"] == "accepted"


def test_a_repeated_order_id_is_answered_200_but_recorded_once(
    sandbox: SandboxServer, post: Post
) -> None:
    first, again = vibetrace_order("A-1"), vibetrace_order("A-1")
    assert post(VIBETRACE_PATH, first, VIBETRACE_HEADERS).json() == CREATED
    assert post(VIBETRACE_PATH, again, VIBETRACE_HEADERS).json() == CREATED
    assert post(VIBETRACE_PATH, vibetrace_order("A-2"), VIBETRACE_HEADERS).status_code == 200
    assert [
        o["event"]["confirmation"]["generic"]["orderId"] for o in sandbox.received("vibetrace")
    ] == [
        "A-1",
        "A-2",
    ]
    outcomes = [r["outcome"] for r in sandbox.requests("vibetrace")]
    assert outcomes == ["accepted", "deduplicated", "accepted"]


def test_reset_forgets_seen_order_ids(sandbox: SandboxServer, post: Post) -> None:
    post(VIBETRACE_PATH, vibetrace_order("B-1"), VIBETRACE_HEADERS)
    sandbox.reset()
    post(VIBETRACE_PATH, vibetrace_order("B-1"), VIBETRACE_HEADERS)
    assert len(sandbox.received("vibetrace")) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "wrong"}, {"Authorization": "Bearer sandbox-vibetrace-key"}],
)
def test_a_missing_wrong_or_scheme_prefixed_key_is_401(
    sandbox: SandboxServer, post: Post, headers: dict[str, str]
) -> None:
    response = post(VIBETRACE_PATH, vibetrace_order(), headers)
    assert response.status_code == 401
    assert response.json() == errors("Unauthorized", "Invalid or missing API key")
    assert sandbox.received("vibetrace") == []


ONE_ITEM = [{"id": "sku", "quantity": 1}]
NO_USER = ("Missing user information", "Please send user information along with event")
NO_USER_ID = ("Missing user identifier", "The user object needs an email or an _id")
NO_EVENT = ("Missing event information", "Please send event information along with user")
ONE_TYPE = (
    "Invalid event",
    "The event needs exactly one type key: confirmation, generic, update, login",
)
NOT_OBJECT = ("Invalid event", "The update event must be an object")
NO_NAME = ("Invalid event", "A generic event needs generic.event_name")
NO_ORDER_ID = ("Missing orderId", "A confirmation needs generic.orderId (case sensitive)")
BAD_ITEMS = ("Invalid items", "A confirmation needs items as a list of {id, quantity}")
NOT_JSON_OBJECT = ("Invalid request", "the body must be a JSON object")
ID_TYPE = "id must be a string or an integer"


def item(index: int, problem: str) -> tuple[str, str]:
    return ("Invalid items", f"items[{index}]: {problem}")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"event": {"update": {}}}, NO_USER),
        ({"user": {"tel": "1"}, "event": {"update": {}}}, NO_USER_ID),
        ({"user": USER}, NO_EVENT),
        ({"user": USER, "event": {}}, NO_EVENT),
        ({"user": USER, "event": {"purchase": {}}}, ONE_TYPE),
        ({"user": USER, "event": {"update": {}, "login": {}}}, ONE_TYPE),
        ({"user": USER, "event": {"update": "x"}}, NOT_OBJECT),
        ({"user": USER, "event": {"generic": {"generic": {}}}}, NO_NAME),
        (_confirmation({"orderid": "1"}, ONE_ITEM), NO_ORDER_ID),
        (_confirmation({"orderId": "1"}, None), BAD_ITEMS),
        (_confirmation({"orderId": "1"}, [{"id": "sku"}]), item(0, "quantity must be a number")),
        (_confirmation({"OrderId": "1"}, ONE_ITEM), NO_ORDER_ID),
        (_confirmation({"order_id": "1"}, ONE_ITEM), NO_ORDER_ID),
        (_confirmation({"orderId": ""}, ONE_ITEM), NO_ORDER_ID),
        (_confirmation({"orderId": True}, ONE_ITEM), NO_ORDER_ID),
        (_confirmation({"orderId": "1"}, {"id": "sku", "quantity": 1}), BAD_ITEMS),
        (
            _confirmation({"orderId": "1"}, ["sku"]),
            item(0, "an item must be an object {id, quantity}"),
        ),
        (
            _confirmation({"orderId": "1"}, [*ONE_ITEM, {"id": "sku", "quantity": "2"}]),
            item(1, "quantity must be a number"),
        ),
        (
            _confirmation({"orderId": "1"}, [{"id": "sku", "quantity": True}]),
            item(0, "quantity must be a number"),
        ),
        (_confirmation({"orderId": "1"}, [{"quantity": 1}]), item(0, ID_TYPE)),
        (_confirmation({"orderId": "1"}, [{"id": None, "quantity": 1}]), item(0, ID_TYPE)),
        (_confirmation({"orderId": "1"}, [{"id": 1.5, "quantity": 1}]), item(0, ID_TYPE)),
        (_confirmation({"orderId": "1"}, [{"ID": "sku", "quantity": 1}]), item(0, ID_TYPE)),
        ({"user": {"Email": "buyer@example.test"}, "event": {"update": {}}}, NO_USER_ID),
        ([vibetrace_order()], NOT_JSON_OBJECT),
    ],
)
def test_a_bad_body_is_400_with_the_documented_shape(
    sandbox: SandboxServer, post: Post, body: Any, expected: tuple[str, str]
) -> None:
    response = post(VIBETRACE_PATH, body, VIBETRACE_HEADERS)
    assert (response.status_code, response.json()) == (400, errors(*expected))
    assert sandbox.received("vibetrace") == []


@pytest.mark.parametrize(
    "user", [{"email": "unknown@example.test"}, {"_id": "unknown@example.test"}]
)
def test_a_user_that_does_not_exist_is_400(
    sandbox: SandboxServer, post: Post, user: dict[str, str]
) -> None:
    response = post(VIBETRACE_PATH, vibetrace_order(**user), VIBETRACE_HEADERS)
    assert response.status_code == 400
    expected = errors("User not found", "Note that user must exist in the database beforehand")
    assert response.json() == expected
    assert sandbox.received("vibetrace") == []
