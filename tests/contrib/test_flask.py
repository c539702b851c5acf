"""The Flask integration, through ``examples/flask_app`` and Flask's own test client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

pytest.importorskip("flask")

import tracking_worker
from tests.contrib.support import load_example, sections
from tests.helpers import wait_for
from tests.system import System
from tracking_worker.contrib.flask import TrackingWorker
from tracking_worker.sandbox import SandboxServer

shop = load_example("flask_app/shop.py", "example_flask_shop")
BUYER = 5842703839


def test_a_purchase_in_a_view_reaches_the_provider(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil", "grampixel"])
    app = shop.create_app({"TRACKING_WORKER": sections(system), "TESTING": True})
    assert tracking_worker.get_tracker() is TrackingWorker.tracker(app)
    client = app.test_client()

    bad = client.post(
        "/checkout",
        json={"telegram_id": BUYER, "amount": 5, "currency": "usdollar", "order_id": "A-0"},
    )
    ok = client.post(
        "/checkout",
        json={"telegram_id": BUYER, "amount": 19.99, "currency": "usd", "order_id": "A-1001"},
    )

    assert bad.status_code == 400 and list(bad.get_json()["errors"]) == ["currency"]
    assert ok.status_code == 201
    graspil = wait_for(lambda: sandbox.received("graspil"), 30, message="graspil")
    grampixel = wait_for(lambda: sandbox.received("grampixel"), 30, message="grampixel")
    assert [item["user_id"] for item in graspil] == [BUYER]
    assert [(item["telegram_id"], item["value"]) for item in grampixel] == [(BUYER, 19.99)]


def test_flask_tracking_status(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    app = shop.create_app({"TRACKING_WORKER": _local(redis_url, tmp_path), "TESTING": True})
    TrackingWorker.tracker(app).trigger = lambda name: None
    with app.test_request_context():
        tracking_worker.track("purchase", telegram_id=1)
    runner = app.test_cli_runner()

    table = runner.invoke(args=["tracking", "status"])
    counts = runner.invoke(args=["tracking", "status", "--json"])

    assert table.exit_code == 0 and "graspil" in table.output
    assert json.loads(counts.output)["graspil"]["pending"] == 1


def test_flask_tracking_status_with_redis_down_is_one_line(tmp_path: Path) -> None:
    from tracking_worker.devtools import free_port

    app = shop.create_app(
        {"TRACKING_WORKER": _local(f"redis://127.0.0.1:{free_port()}/0", tmp_path)}
    )
    result = app.test_cli_runner().invoke(args=["tracking", "status"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "Traceback" not in result.output


def test_a_bad_key_stops_the_app_factory_naming_it(tmp_path: Path) -> None:
    with pytest.raises(tracking_worker.ConfigurationError, match=r"delivery\.max_attempts"):
        shop.create_app({"TRACKING_WORKER": {"delivery": {"max_attempts": 0}}})
    with pytest.raises(tracking_worker.ConfigurationError, match="must be a dict"):
        shop.create_app({"TRACKING_WORKER": "redis://localhost"})


def _local(url: str, tmp_path: Path) -> dict[str, Any]:
    from tracking_worker.sandbox import provider_settings

    return {
        "redis": {"url": url, "socket_timeout": 0.2},
        "producer": {"spool_dir": str(tmp_path / "spool")},
        "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
    }
