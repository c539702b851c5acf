"""Redis restarted or stopped under the producer: track() never fails a web request, the
spool keeps every event, and everything is delivered once Redis is back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.errors import TrackingUnavailable
from tracking_worker.keys import Keys
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import SandboxServer
from tracking_worker.settings import load_settings


def purchase(n: int) -> dict[str, object]:
    return {"name": "purchase", "telegram_id": n, "value": 3.0, "currency": "USD"}


def test_redis_restart_while_events_flow_loses_nothing(
    make_system: Callable[..., System], sandbox: SandboxServer, private_redis: EmbeddedRedis
) -> None:
    system = make_system(providers=["graspil"], redis_url=private_redis.url)
    produced: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        n = 1
        while not stop.is_set():
            try:
                system.tracker.track(**purchase(n))  # type: ignore[arg-type]
                produced.append(n)
            except BaseException as exc:  # noqa: BLE001 - any escape fails the test below
                errors.append(exc)
            n += 1
            pause_until(time.monotonic() + 0.005)

    thread = threading.Thread(target=produce)
    thread.start()
    wait_for(lambda: len(produced) > 200, 20)
    # Down until the producer has met it (a restart alone can fall between two calls).
    private_redis.stop()
    wait_for(
        lambda: system.tracker.outage.spooled > 0, 20, message="events spooled while Redis was away"
    )
    private_redis.start()
    wait_for(lambda: system.tracker.outage.drained > 0, 20, message="later calls drain the spool")
    wait_for(lambda: len(produced) > 800, 20)
    stop.set()
    thread.join()
    assert errors == []
    system.tracker.drain_spool()  # whatever the last calls did not reach yet
    assert system.tracker.spool.count() == 0
    wait_for(lambda: system.settled("graspil", len(produced)), 60, message=system.log())
    dead = [json.loads(d.event)["telegram_id"] for d in system.queue("graspil").dead_letters()]
    ledger = account(produced, [i["user_id"] for i in sandbox.received("graspil")], dead)
    report(ledger, f"redis restart (spooled {system.tracker.outage.spooled})")
    assert (ledger.lost, ledger.dead) == (0, 0)


def test_redis_stopped_track_returns_in_time_spools_and_drains(
    make_system: Callable[..., System], sandbox: SandboxServer, private_redis: EmbeddedRedis
) -> None:
    system = make_system(providers=["graspil"], redis_url=private_redis.url)
    private_redis.stop()
    timeout = system.settings.redis.socket_timeout
    slowest = 0.0
    for n in range(1, 51):
        started = time.monotonic()
        system.tracker.track(**purchase(n))  # type: ignore[arg-type]
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < timeout + 0.25
    assert system.tracker.spool.count() == 50
    private_redis.start()
    system.wait_worker_ready()
    env = {**system.env}
    drained = subprocess.run(
        [sys.executable, "-m", "tracking_worker.cli", "spool", "drain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=os.getcwd(),
    )
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "50 spooled event(s) enqueued; 0 left" in drained.stdout
    wait_for(lambda: system.settled("graspil", 50), 30, message=system.log())
    ledger = account(range(1, 51), [i["user_id"] for i in sandbox.received("graspil")], [])
    report(ledger, f"redis stopped (slowest track() {slowest * 1000:.0f} ms)")
    assert (ledger.lost, ledger.duplicates, ledger.delivered) == (0, 0, 50)


def test_on_unavailable_raise_raises_and_spools_nothing(
    private_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    settings = load_settings(
        {
            "redis": {"url": private_redis.url},
            "producer": {"on_unavailable": "raise", "spool_dir": str(tmp_path / "spool")},
            "providers": {"graspil": {"api_key": "key-123456", "targets": {"purchase": 1}}},
        },
        environ={},
    )
    tracker = Tracker(settings)
    private_redis.stop()
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable):
        tracker.track("purchase", telegram_id=1)
    assert time.monotonic() - started < 0.5 + 0.25
    assert tracker.spool.count() == 0 and tracker.outage.spooled == 0
    private_redis.start()

    def enqueued() -> bool:  # calls fail fast for a second after a failure, then go through
        try:
            tracker.track("purchase", telegram_id=1, event_id="after")
        except TrackingUnavailable:
            return False
        return True

    wait_for(enqueued, 5)
    assert tracker.client.llen(Keys("graspil").pending) == 1
