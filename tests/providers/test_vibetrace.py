"""VibeTrace: confirmation vs generic mapping, user object, skip rules, classification, settings."""

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
from tracking_worker.outcomes import Credentials, Delivered, NotYet, Reject
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.providers.vibetrace import VibeTrace

SETTINGS = {"api_key": "vt-secret-key"}
HEADERS = {"Authorization": "vt-secret-key", "Content-Type": "application/json"}
ITEMS = [{"id": "sku-1", "quantity": 2}]


def provider(**settings: Any) -> VibeTrace:
    return load_provider(VibeTrace, SETTINGS, **settings)


event = event_factory(email="ana@example.com", order_id="A-1001", value=99.5, currency="RON")


FULL_ORDER = {
    "status": "paid",
    "coupons": "SPRING",
    "phone": "+40700000000",
    "total_shipping": 15,
    "items": ITEMS,
    "note": "not a generic key",
}
MAPPING = [
    pytest.param(
        event(
            properties=FULL_ORDER,
            context={"firstname": "Ana", "city": "Cluj", "tel": "+40700000000", "device": "x"},
        ),
        {
            "user": {
                "email": "ana@example.com",
                "tel": "+40700000000",
                "firstname": "Ana",
                "city": "Cluj",
            },
            "event": {
                "confirmation": {
                    "generic": {
                        "orderId": "A-1001",
                        "total": 99.5,
                        "currency": "RON",
                        "status": "paid",
                        "coupons": "SPRING",
                        "phone": "+40700000000",
                        "total_shipping": 15,
                    },
                    "items": ITEMS,
                }
            },
        },
        id="confirmation-with-known-generic-keys-items-and-user-attributes",
    ),
    pytest.param(
        event(value=None, currency=None),
        {
            "user": {"email": "ana@example.com"},
            "event": {"confirmation": {"generic": {"orderId": "A-1001"}, "items": []}},
        },
        id="confirmation-without-value-or-items",
    ),
    pytest.param(
        event(
            name="add_to_wishlist",
            email=None,
            user_id="u-77",
            order_id=None,
            properties={"product": "sku-1", "event_name": "spoofed"},
        ),
        {
            "user": {"_id": "u-77"},
            "event": {
                "generic": {"generic": {"event_name": "add_to_wishlist", "product": "sku-1"}}
            },
        },
        id="generic-by-user-id-keeps-its-own-name",
    ),
    pytest.param(
        event(name="login_page", user_id="u-77", properties={}),
        {
            "user": {"email": "ana@example.com"},
            "event": {"generic": {"generic": {"event_name": "login_page"}}},
        },
        id="email-preferred-over-user-id",
    ),
]


@pytest.mark.parametrize(("given", "body"), MAPPING)
def test_maps_one_event_to_user_and_event(given: Event, body: dict[str, Any]) -> None:
    request = provider().build_request([given])
    assert_post(request, "https://api.vtcdn.net/v1/event/", HEADERS, body)


def test_confirmation_events_are_configurable() -> None:
    vt = provider(confirmation_events=["order_paid"], base_url="http://localhost:8084")
    request = vt.build_request([event(properties={"items": ITEMS})])
    assert request.url == "http://localhost:8084/v1/event/"
    assert request.body["event"] == {
        "generic": {"generic": {"event_name": "purchase", "items": ITEMS}}
    }
    assert "confirmation" in vt.build_request([event(name="order_paid")]).body["event"]


SKIPS = [
    pytest.param(event(email=None), "no email or user_id", id="no-identity"),
    pytest.param(event(email=None, user_id="u-77"), None, id="user-id-is-enough"),
    pytest.param(event(order_id=None), "no order_id", id="confirmation-without-order-id"),
    pytest.param(event(name="page_view", order_id=None), None, id="generic-needs-no-order"),
    pytest.param(event(), None, id="complete"),
]


@pytest.mark.parametrize(("given", "reason"), SKIPS)
def test_skip_reason(given: Event, reason: str | None) -> None:
    assert_skip_reason(provider().skip_reason(given), reason)


CREATED = {"results": {"message": "Event created", "email": "Event was created for the user"}}
NO_USER = {"errors": [{"message": "User not found", "description": "User must exist beforehand"}]}
NO_EVENT = {
    "errors": [
        {
            "message": "Missing event information",
            "description": "Please send event information along with user",
        }
    ]
}
CLASSIFY = [
    (answer(200, CREATED), Delivered, None),
    (answer(400, NO_USER), NotYet, "VibeTrace: User not found: User must exist beforehand"),
    (answer(400, {"errors": ["user must exist"]}), NotYet, "user must exist"),
    (
        answer(400, NO_EVENT),
        Reject,
        "Missing event information: Please send event information along with user",
    ),
    (answer(400, {"errors": ["Bad JSON"]}), Reject, "Bad JSON"),
    (answer(400, "garbage"), Reject, "garbage"),
    (answer(401, {"errors": [{"message": "Unauthorized"}]}), Credentials, "Unauthorized"),
    (answer(403, {"errors": [{"message": "API not enabled"}]}), Credentials, "API not enabled"),
    (answer(404, "Not Found"), Reject, "Not Found"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    assert_classified(provider(), response, kind, text)


@pytest.mark.parametrize(("response", "text", "after", "throttled"), TRANSIENT)
def test_transient(response: HttpResponse, text: str, after: float | None, throttled: bool) -> None:
    assert_transient(provider(), response, text, after, throttled)


def test_defaults_and_registry() -> None:
    loaded = VibeTrace.schema().load(SETTINGS)
    assert loaded.confirmation_events == ["purchase"]
    assert loaded.base_url == "https://api.vtcdn.net"
    assert VibeTrace(loaded).batch_size == 1
    assert provider().secrets == ["vt-secret-key"]
    assert REGISTRY["vibetrace"] is VibeTrace


def test_default_confirmation_list_is_not_shared() -> None:
    first = VibeTrace.schema().load(SETTINGS)
    first.confirmation_events.append("refund")
    assert VibeTrace.schema().load(SETTINGS).confirmation_events == ["purchase"]


BAD_SETTINGS = [
    pytest.param({"api_key": None}, "api_key", id="missing-api-key"),
    pytest.param({"api_key": ""}, "api_key", id="empty-api-key"),
    pytest.param({"api_key": 123}, "api_key", id="api-key-not-string"),
    pytest.param({"confirmation_events": "purchase"}, "confirmation_events", id="not-a-list"),
    pytest.param({"confirmation_events": [""]}, "confirmation_events", id="empty-name"),
    pytest.param({"key": "x"}, "key", id="unknown-key"),
]


@pytest.mark.parametrize(("change", "key"), BAD_SETTINGS)
def test_bad_settings_name_the_key(change: dict[str, Any], key: str) -> None:
    assert_bad_settings(VibeTrace.schema, SETTINGS, change, key)
