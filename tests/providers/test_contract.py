"""Each provider against its document (its public API page, linked from the README's Providers
table, which summarizes each field): a table of ``track()`` inputs goes through
``Producer.validate`` and ``build_request``, and every request is checked against the rules
the document states; an input the provider cannot take is skipped with a reason, never sent."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.providers import (
    test_giosg,
    test_grampixel,
    test_graspil,
    test_tganalytics,
    test_vibetrace,
)
from tracking_worker.money import ISO_4217
from tracking_worker.producer.enqueue import Producer
from tracking_worker.providers import Provider
from tracking_worker.settings import DeliverySettings

MINIAPP = "10c574d9-6d2c-4e6d-a141-ce6da141ce6d"
PEOPLE = {"telegram_id": 111111111, "visitor_id": "customer-12345678", "email": "ann@example.com"}

#: track() inputs: values, currencies, names, sessions, unicode e-mails.
INPUTS: list[dict[str, Any]] = [
    {"name": "purchase", "value": 0.1 + 0.2, "currency": "usd", "order_id": "A-1"},
    {"name": "purchase", "value": 19.999, "currency": "EUR", "order_id": "A-2"},
    {"name": "purchase", "value": 1e21, "currency": "USD", "order_id": "A-3"},
    {"name": "purchase", "value": 5e-324, "currency": "USD", "order_id": "A-4"},
    {"name": "purchase", "value": 1234.5, "currency": "JPY", "order_id": "A-5"},
    {"name": "purchase", "value": 1.2345, "currency": "KWD", "order_id": "A-6"},
    {"name": "purchase", "value": 250, "currency": "XTR", "order_id": "A-7"},
    {"name": "purchase", "order_id": "A-8"},  # a conversion without a value
    {"name": "registration"},
    {"name": "first_deposit", "value": 150.0, "currency": "USD"},
    {"name": "app-init", "miniapp_session_id": MINIAPP, "context": {"is_premium": True}},
    {"name": "join_request", "ad_session_id": "ad-7f3a", "miniapp_session_id": MINIAPP},
    {"name": "subscribe", "session_id": MINIAPP},  # the legacy field: TG Analytics' session
    {"name": "install", "ad_session_id": "gp_a1b2c3"},
    {"name": "trial", "email": "josé.müller@exämple.de"},
    {
        "name": "purchase",
        "email": "δοκιμή@παράδειγμα.δοκιμή",
        "order_id": "Ω-1",
        "value": 9.99,
        "currency": "usd",
        "properties": {"items": [{"id": "sku-1", "quantity": 2}]},
    },
    {"name": "Событие", "properties": {"plan": "про"}},
]

_DATE_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\Z")


def _plain_number(value: Any, places: int) -> None:
    """A JSON number with at most the currency's places and no exponent."""
    assert type(value) in (int, float)
    text = json.dumps(value)
    assert "e" not in text.lower()
    assert -Decimal(text).as_tuple().exponent <= max(places, 0) or Decimal(text) == 0


def graspil_rules(body: Any) -> None:
    assert isinstance(body, list) and 1 <= len(body) <= 100
    for item in body:
        assert type(item["target_id"]) is int and type(item["user_id"]) is int
        assert _DATE_MS.match(item["date"])  # milliseconds and a UTC offset
        if "value" in item:
            unit = item["unit"]
            assert isinstance(unit, str) and len(unit) <= 3  # "string(3)", required with value
            _plain_number(item["value"], ISO_4217.get(unit, 0))


def tganalytics_rules(body: Any) -> None:
    assert isinstance(body, list)
    for item in body:
        assert type(item["user_id"]) is int and isinstance(item["event_name"], str)
        assert str(uuid.UUID(item["session_id"])) == item["session_id"]
        assert isinstance(item["app_name"], str)
        assert type(item.get("is_premium", False)) is bool
        assert set(item) <= {
            "user_id",
            "event_name",
            "session_id",
            "app_name",
            "is_premium",
            "client_timestamp",
            "custom_data",
        }


def grampixel_rules(body: Any) -> None:
    assert isinstance(body["event_name"], str) and type(body["telegram_id"]) is int
    uuid.UUID(body["workspace_id"])
    assert isinstance(body.get("session_id", ""), str)
    if "value" in body:
        assert body["currency"] in ISO_4217  # "3-letter ISO 4217 currency code"
        _plain_number(body["value"], ISO_4217[body["currency"]])


def giosg_rules(body: Any) -> None:
    assert isinstance(body["visitor_identity"], str) and body["rooms"]
    assert _DATE_MS.match(body["goal_matched_at"])
    if "goal_value" in body:  # a decimal, as the document's "123.45"
        assert re.fullmatch(r"\d+\.\d\d", body["goal_value"])


def vibetrace_rules(body: Any) -> None:
    assert set(body) == {"user", "event"} and len(body["event"]) == 1
    assert body["user"].get("email") or body["user"].get("_id")
    confirmation = body["event"].get("confirmation")
    if confirmation is not None:
        generic = confirmation["generic"]
        assert isinstance(generic["orderId"], str)  # case-sensitive name
        if "total" in generic:
            assert generic["currency"] in ISO_4217
            _plain_number(generic["total"], ISO_4217[generic["currency"]])
        for item in confirmation["items"]:
            assert set(item) >= {"id", "quantity"} and type(item["quantity"]) is int


CONTRACTS: list[Any] = [
    pytest.param(
        test_graspil.provider(targets={n["name"]: 1 for n in INPUTS}), graspil_rules, id="graspil"
    ),
    pytest.param(test_tganalytics.provider(), tganalytics_rules, id="tganalytics"),
    pytest.param(test_grampixel.provider(), grampixel_rules, id="grampixel"),
    pytest.param(
        test_giosg.provider(goals={n["name"]: test_giosg.GOAL for n in INPUTS}),
        giosg_rules,
        id="giosg",
    ),
    pytest.param(test_vibetrace.provider(), vibetrace_rules, id="vibetrace"),
]


@pytest.mark.parametrize(("provider", "rules"), CONTRACTS)
def test_every_request_keeps_the_documents_rules(
    provider: Provider, rules: Callable[[Any], None]
) -> None:
    producer = Producer({provider.name: provider}, DeliverySettings())
    events = [n.event for n in producer.validate([{**PEOPLE, **data} for data in INPUTS])]
    sent = 0
    for event in events:
        reason = provider.skip_reason(event)
        if reason is not None:
            assert reason.strip()
            continue
        rules(provider.build_request([event]).body)
        sent += 1
    assert sent >= 3, "the table holds deliverable rows for every provider"
    if provider.max_batch > 1:
        rules(provider.build_request([e for e in events if not provider.skip_reason(e)]).body)


def test_grampixel_takes_our_names_as_its_standard_keys() -> None:
    gp = test_grampixel.provider(events={})
    producer = Producer({"grampixel": gp}, DeliverySettings())
    names = [d["name"] for d in INPUTS]
    events = producer.validate([{"telegram_id": 1, "name": n} for n in names])
    sent = {e.name: gp.build_request([e]).body["event_name"] for e in (n.event for n in events)}
    assert {
        k: sent[k]
        for k in (
            "purchase",
            "registration",
            "first_deposit",
            "join_request",
            "subscribe",
            "install",
            "trial",
        )
    } == {
        "purchase": "Purchase",
        "registration": "REG",
        "first_deposit": "FTD",
        "join_request": "JoinRequest",
        "subscribe": "Subscribe",
        "install": "INSTALL",
        "trial": "TRIAL",
    }
    assert sent["Событие"] == "Событие"  # a custom name passes unchanged
