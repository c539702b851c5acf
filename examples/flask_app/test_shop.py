"""The shop's own tests: what a checkout reports, with no Redis and no worker (the ``tracked``
fixture of tracking_worker's pytest plugin).

    pytest        (in this folder)
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from shop import create_app

from tracking_worker.testing import Tracked


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("GRASPIL_API_KEY", "test-key-not-secret")  # create_app's "${...}"
    return create_app({"TESTING": True}).test_client()


def test_a_checkout_reports_a_purchase(client: FlaskClient, tracked: Tracked) -> None:
    response = client.post(
        "/checkout",
        json={"telegram_id": 42, "amount": 19.99, "currency": "usd", "order_id": "A-1001"},
    )
    assert response.status_code == 201
    assert tracked.names == ["purchase"]
    assert tracked[0].event_id == response.get_json()["event_id"]
    [request] = tracked.for_provider("graspil")
    assert request.url == "https://api.graspil.com/v1/send-target"
    assert request.headers["Api-Key"] == "[redacted]"
    assert request.json[0]["target_id"] == 12
    assert (request.json[0]["value"], request.json[0]["unit"]) == (19.99, "USD")


def test_a_bad_currency_is_refused_and_reports_nothing(
    client: FlaskClient, tracked: Tracked
) -> None:
    response = client.post(
        "/checkout",
        json={"telegram_id": 42, "amount": 5, "currency": "usdollar", "order_id": "A-1002"},
    )
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["currency"]
    assert len(tracked) == 0
