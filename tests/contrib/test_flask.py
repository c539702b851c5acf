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
#: A purchase's value, which GramPixel requires.
PAID = {"value": 5, "currency": "usd"}


def test_a_purchase_in_a_view_reaches_the_provider(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil", "grampixel"])
    app = shop.create_app({"TRACKING_WORKER": sections(system), "TESTING": True})
    with app.app_context():
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


def test_two_apps_in_one_process_each_track_into_their_own_redis_and_providers(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """App 1 on Redis db 1 with Graspil, app 2 on db 2 with GramPixel; both take the checkout's
    event, so one landing in the other's Redis or provider would show."""
    base = redis_url.rsplit("/", 1)[0]
    apps = {
        db: shop.create_app(
            {"TRACKING_WORKER": _local(f"{base}/{db}", tmp_path / str(db), name), "TESTING": True}
        )
        for db, name in ((1, "graspil"), (2, "grampixel"))
    }
    for db, app in apps.items():
        TrackingWorker.tracker(app).trigger = lambda name: None
        paid = {"telegram_id": db, "amount": 5, "currency": "usd", "order_id": f"A-{db}"}
        assert app.test_client().post("/checkout", json=paid).status_code == 201
        with app.test_request_context():
            tracking_worker.track_many([{**PAID, "name": "purchase", "telegram_id": db * 10}])
    # Outside any app context: the process default, on the settings of the last app set up.
    default = tracking_worker.get_tracker()
    assert default.settings is TrackingWorker.tracker(apps[2]).settings
    default.trigger = lambda name: None
    tracking_worker.track("purchase", telegram_id=3, **PAID)

    assert _pending(f"{base}/1") == {"graspil": [1, 10], "grampixel": []}
    assert _pending(f"{base}/2") == {"graspil": [], "grampixel": [2, 20, 3]}


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


def _local(url: str, tmp_path: Path, provider: str = "graspil") -> dict[str, Any]:
    from tracking_worker.sandbox import provider_settings

    return {
        "redis": {"url": url, "socket_timeout": 0.2},
        "producer": {"spool_dir": str(tmp_path / "spool")},
        "providers": {provider: provider_settings("http://127.0.0.1:9")[provider]},
    }


def _pending(url: str) -> dict[str, list[int | None]]:
    """Each provider's pending events in one Redis database, by telegram_id."""
    from tracking_worker.events import Event
    from tracking_worker.keys import Keys

    with redis.Redis.from_url(url) as store:
        return {
            name: [
                Event.from_json(raw).telegram_id for raw in store.lrange(Keys(name).pending, 0, -1)
            ]
            for name in ("graspil", "grampixel")
        }
