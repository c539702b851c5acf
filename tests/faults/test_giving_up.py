"""Events that can never go through end dead with the reason, and long sends keep their lease."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer


def test_max_attempts_dead_letters_with_the_last_error(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.add_fault("grampixel", 502, duration=120)
    system = make_system(
        providers=["grampixel"], delivery={"max_attempts": 3, "breaker_threshold": 100}
    )
    system.tracker.track_many([{"name": "signup", "telegram_id": n} for n in range(1, 4)])
    wait_for(lambda: system.counts("grampixel")["dead"] == 3, 30, message=system.log())
    for dead in system.queue("grampixel").dead_letters():
        assert dead["kind"] == "expired"
        assert dead["reason"].startswith("expired: 3 attempts used; last error: server error 502")
    assert len(sandbox.requests("grampixel")) == 9  # 3 events x 3 attempts, then no more
    assert system.counts("grampixel")["delivered"] == 0


def test_events_older_than_max_age_are_dead_lettered(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"], delivery={"max_age": 60})
    queue = system.queue("graspil")
    old = {
        "event_id": "old",
        "name": "purchase",
        "occurred_at": "2024-01-01T00:00:00.000+00:00",
        "telegram_id": 9,
        "queued_at": time.time() - 61,
    }
    queue.client.rpush(queue.keys.pending, json.dumps(old))
    system.tracker.track_many([{"name": "purchase", "telegram_id": 1}])
    wait_for(lambda: system.settled("graspil", 2), 30, message=system.log())
    [dead] = queue.dead_letters()
    assert dead["kind"] == "expired" and "older than max_age (60s)" in dead["reason"]
    assert [i["user_id"] for i in sandbox.received("graspil")] == [1]


def test_a_send_longer_than_the_lease_keeps_it_by_renewal(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    # One bad event in 64 costs ~13 bisecting requests of 0.5 s: far longer than the lease.
    sandbox.set_latency("graspil", 0.5)
    sandbox.reject_matching("graspil", "user_id", 40)
    system = make_system(
        providers=["graspil"],
        delivery={"lease_seconds": 2.0},
        provider_overrides={"graspil": {"connect_timeout": 0.3, "read_timeout": 1.5}},
    )
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 65)])
    wait_for(lambda: system.settled("graspil", 64), 60, message=system.log())
    received = Counter(i["user_id"] for i in sandbox.received("graspil"))
    assert set(received) == set(range(1, 65)) - {40} and max(received.values()) == 1
    counts = system.counts("graspil")
    assert counts["reaped"] == 0 and (counts["delivered"], counts["dead"]) == (63, 1)
    assert len(sandbox.requests("graspil")) >= 10
