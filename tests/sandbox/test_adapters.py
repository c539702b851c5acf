"""The adapters against the strict sandbox: events ``track()`` accepts, rendered by each
provider's ``build_request`` and sent as the worker sends them, must be taken as the documents
say; what a document refuses is refused at ``track()`` (naming the field) or skipped for that
provider with a reason, never sent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tracking_worker.errors import ValidationError
from tracking_worker.events import Event
from tracking_worker.outcomes import Delivered
from tracking_worker.producer.enqueue import Producer
from tracking_worker.providers.base import Provider
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings

from .conftest import Deliver


def every_provider() -> dict[str, Provider]:
    settings = load_settings({"providers": provider_settings("http://127.0.0.1:9")}, environ={})
    return settings.build_providers()


def event(name: str = "purchase", **fields: Any) -> Event:
    """A purchase every provider can take, with ``fields`` changed."""
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "name": name,
        "occurred_at": "2024-08-03T18:00:00.123+00:00",
        "telegram_id": 5842703839,
        "email": "buyer@example.test",
        "visitor_id": "customer-12345678",
        "session_id": str(uuid.uuid4()),
        "value": 10.5,
        "currency": "USD",
        "order_id": f"order-{uuid.uuid4()}",
    }
    return Event(**{**base, **fields})


CASES = [
    pytest.param("graspil", event(), id="graspil-purchase"),
    pytest.param("graspil", event(currency="XTR", value=50.0), id="graspil-stars"),
    pytest.param("graspil", event(value=None, currency=None), id="graspil-no-value"),
    pytest.param("tganalytics", event("app-init"), id="tganalytics-app-init"),
    pytest.param(
        "tganalytics",
        event("app-init", context={"is_premium": True, "platform": "tdesktop"}),
        id="tganalytics-typed-context",
    ),
    pytest.param(
        "tganalytics",
        event("connection-completed", context={"auth_type": "ton_proof"}),
        id="tganalytics-context-auth_type-name",
    ),
    pytest.param("grampixel", event(), id="grampixel-purchase"),
    pytest.param("grampixel", event(currency="EUR"), id="grampixel-eur"),
    pytest.param("giosg", event(), id="giosg-purchase"),
    pytest.param("giosg", event(value=19.99), id="giosg-two-places"),
    pytest.param(
        "giosg",
        event(value=0.1 + 0.2),
        id="giosg-value-float-noise",
    ),
    pytest.param(
        "giosg",
        event(value=19.999),
        id="giosg-value-three-places",
    ),
    pytest.param(
        "giosg",
        event(value=1e21),
        id="giosg-value-exponent",
    ),
    pytest.param("vibetrace", event(), id="vibetrace-purchase"),
    pytest.param(
        "vibetrace",
        event(properties={"items": [{"id": "sku-1", "quantity": 2}]}),
        id="vibetrace-items",
    ),
]


@pytest.mark.parametrize(("provider", "sent"), CASES)
def test_what_the_adapter_renders_is_taken_by_the_documented_api(
    deliver: Deliver, provider: str, sent: Event
) -> None:
    outcome, answer = deliver(provider, sent)
    assert outcome == Delivered(), answer


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"context": {"is_premium": "yes"}}, "context.is_premium"),
        (
            {"properties": {"items": [{"id": "sku-1", "quantity": "2"}]}},
            "properties.items.0.quantity",
        ),
        ({"currency": "ABC", "value": 1.0}, "currency"),
    ],
)
def test_what_a_document_refuses_is_refused_at_track(fields: dict[str, Any], field: str) -> None:
    producer = Producer(every_provider(), load_settings({}, environ={}).delivery)
    raw = {"name": "purchase", "telegram_id": 5, "email": "a@example.test", **fields}
    with pytest.raises(ValidationError) as refused:
        producer.validate([raw], single=True)
    assert field in refused.value.errors


def test_stars_are_skipped_where_the_document_takes_iso_4217_only() -> None:
    providers = every_provider()
    stars = event(currency="XTR", value=50.0)
    assert providers["grampixel"].skip_reason(stars) is not None
    assert providers["giosg"].skip_reason(stars) is not None
    assert providers["graspil"].skip_reason(stars) is None
