"""Poison data never blocks the queue: it is dead-lettered with the exception text."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer


def test_malformed_and_unmappable_items_are_dead_lettered_the_rest_delivered(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"])
    queue = system.queue("graspil")
    unmappable = json.dumps(
        {
            "event_id": "u1",
            "name": "no-such-target",
            "occurred_at": "2024-01-01T00:00:00.000+00:00",
            "telegram_id": 5,
            "queued_at": time.time(),
        }
    )
    queue.client.rpush(queue.keys.pending, "{not json", unmappable)
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 11)])
    wait_for(lambda: system.settled("graspil", 12), 30, message=system.log())
    assert sorted(i["user_id"] for i in sandbox.received("graspil")) == list(range(1, 11))
    dead = {d["kind"]: d for d in queue.dead_letters()}
    assert set(dead) == {"malformed", "mapping"}
    assert dead["malformed"]["event"] == "{not json"
    assert "Expecting property name" in dead["malformed"]["reason"]
    assert "KeyError" in dead["mapping"]["reason"] and "no-such-target" in dead["mapping"]["reason"]
    counts = queue.counts()
    assert (counts["delivered"], counts["dead"]) == (10, 2)
