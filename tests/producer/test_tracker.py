"""The Tracker's side work (draining the spool, starting deliveries) never fails ``track()``."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from tracking_worker import routing
from tracking_worker.events import Event, Normalized
from tracking_worker.keys import Keys
from tracking_worker.producer.outage import SPOOL_BACKOFF
from tracking_worker.producer.spool import Spool
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import load_settings

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}


def tracker_for(url: str, spool_dir: Path) -> Tracker:
    settings = load_settings(
        {
            "redis": {"url": url},
            "producer": {"spool_dir": str(spool_dir)},
            "providers": {"graspil": GRASPIL},
        },
        environ={},
    )
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None  # no worker in these tests
    return tracker


def spooled(event_id: str, *providers: str) -> Normalized:
    event = Event(event_id, "purchase", "2024-01-01T00:00:00.000+00:00", telegram_id=7)
    return Normalized(event, providers)


def pending_ids(client: redis.Redis) -> list[str]:
    return [Event.from_json(raw).event_id for raw in client.lrange(Keys("graspil").pending, 0, -1)]


def test_spooled_events_for_a_removed_provider_go_to_the_configured_ones(
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    Spool(tmp_path).append(
        [spooled("a", "graspil", "removed"), spooled("b", "removed"), spooled("c")]
    )
    tracker = tracker_for(redis_url, tmp_path)
    with caplog.at_level(logging.WARNING, "tracking_worker.producer"):
        tracker.track("purchase", telegram_id=1, event_id="new")
    assert sorted(pending_ids(redis_client)) == ["a", "c", "new"]
    assert tracker.outage.drained == 3 and tracker.spool.count() == 0
    warnings = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert len(warnings) == 1 and "not configured" in warnings[0]  # once, not per event


def test_a_drain_that_fails_is_logged_backs_off_and_track_keeps_working(
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_a_directory = tmp_path / "spool"
    not_a_directory.write_text("")  # every look at the spool raises NotADirectoryError
    tracker = tracker_for(redis_url, not_a_directory)
    with caplog.at_level(logging.ERROR, "tracking_worker"):
        tracker.track("purchase", telegram_id=1, event_id="one")
        tracker.outage._spool_check_at -= SPOOL_BACKOFF / 2  # half the back-off passed: still waits
        tracker.track("purchase", telegram_id=1, event_id="two")
    assert pending_ids(redis_client) == ["one", "two"]
    [record] = [r for r in caplog.records if "draining the spool failed" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is NotADirectoryError


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.timeout(20)  # before the fix send_task waited forever on the hung broker
def test_a_trigger_to_a_hung_broker_fails_within_the_socket_timeout(silent_broker: str) -> None:
    settings = load_settings(
        {"redis": {"url": silent_broker, "socket_timeout": 0.2}, "providers": {"graspil": GRASPIL}},
        environ={},
    )
    app = routing.trigger_app(settings)
    options: dict[str, Any] = dict(app.conf.broker_transport_options)
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 0.2
    assert options["visibility_timeout"] == 3600  # the worker's options are kept
    try:
        with pytest.raises(OperationalError, match="Timeout"):
            routing.send_deliver(app, "graspil", flush=False)
    finally:
        app.close()
