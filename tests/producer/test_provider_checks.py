"""Values a provider's API types are checked at ``track()`` (``Provider.check_event``, called
by ``Producer.validate`` for the providers an event goes to)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers import test_grampixel, test_tganalytics, test_vibetrace
from tracking_worker.errors import ValidationError
from tracking_worker.producer.enqueue import Producer
from tracking_worker.settings import DeliverySettings

SESSION = "10c574d9-6d2c-4e6d-a141-ce6da141ce6d"
BASE = {"name": "purchase", "telegram_id": 1, "email": "a@b.co", "order_id": "A-1"}


def producer() -> Producer:
    providers = [test_tganalytics.provider(), test_vibetrace.provider(), test_grampixel.provider()]
    return Producer({p.name: p for p in providers}, DeliverySettings())


BAD = [
    pytest.param({"context": {"is_premium": "yes"}}, "context.is_premium", id="is-premium-bool"),
    pytest.param({"context": {"is_success": 1}}, "context.is_success", id="is-success-bool"),
    pytest.param({"context": {"error_code": "E42"}}, "context.error_code", id="error-code-number"),
    pytest.param({"context": {"error_code": True}}, "context.error_code", id="bool-is-no-number"),
    pytest.param({"context": {"auth_type": 2}}, "context.auth_type", id="auth-type-enum"),
    pytest.param({"context": {"locale": 7}}, "context.locale", id="locale-string"),
    pytest.param(
        {"context": {"messages": [{"address": "EQ", "amount": 5}]}},
        "context.messages.0.amount",
        id="message-amount-string",
    ),
    pytest.param({"context": {"messages": "EQ"}}, "context.messages", id="messages-list"),
    pytest.param(
        {"properties": {"items": [{"id": "a", "quantity": 1}, {"id": "b", "quantity": 1.5}]}},
        "properties.items.1.quantity",
        id="quantity-whole",
    ),
    pytest.param(
        {"properties": {"items": [{"id": "a", "quantity": "2"}]}},
        "properties.items.0.quantity",
        id="quantity-int",
    ),
    pytest.param(
        {"properties": {"items": [{"quantity": 2}]}}, "properties.items.0.id", id="id-required"
    ),
    pytest.param({"miniapp_session_id": "gp_a1b2c3"}, "miniapp_session_id", id="uuid-only"),
]


@pytest.mark.parametrize(("extra", "path"), BAD)
def test_a_badly_typed_provider_field_is_a_validation_error_naming_it(
    extra: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        producer().validate([{**BASE, **extra}], single=True)
    assert list(caught.value.errors) == [path]


def test_many_events_name_the_bad_one_by_index() -> None:
    events = [BASE, {**BASE, "context": {"is_premium": "no"}}]
    with pytest.raises(ValidationError) as caught:
        producer().validate(events)
    assert list(caught.value.errors) == ["events.1.context.is_premium"]


GOOD = [
    {"context": {"is_premium": True, "error_code": None, "auth_type": 1, "locale": "en"}},
    {"context": {"messages": [{"address": "EQ", "amount": "5"}], "auth_type": "ton_proof"}},
    {"properties": {"items": [{"id": "sku-1", "quantity": 2}, {"id": 7, "quantity": 1}]}},
    {"properties": {"items": "free text"}, "name": "viewed"},  # not a confirmation: no items
    {"context": {"is_premium": "yes"}, "providers": ["vibetrace"]},  # not going to TGA
    {"miniapp_session_id": SESSION.upper(), "ad_session_id": "gp_a1b2c3"},
]


@pytest.mark.parametrize("extra", GOOD)
def test_documented_types_and_other_providers_fields_pass(extra: dict[str, Any]) -> None:
    (valid,) = producer().validate([{**BASE, **extra}], single=True)
    assert valid.event.name == extra.get("name", "purchase")


def test_both_sessions_on_one_event_and_the_miniapp_one_lower_cased() -> None:
    extra = {"miniapp_session_id": SESSION.upper(), "ad_session_id": "click-42"}
    (valid,) = producer().validate([{**BASE, **extra}], single=True)
    assert (valid.event.miniapp_session_id, valid.event.ad_session_id) == (SESSION, "click-42")
