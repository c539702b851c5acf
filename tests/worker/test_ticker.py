"""The tick as beat runs it (worker/ticker.py), against a real Redis: one per interval however
many beats tick, a forced one whenever asked, and a due provider's delivery started once."""

from __future__ import annotations

import json

import redis

from tests.helpers import enqueue_call
from tracking_worker.keys import Keys
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.worker.ticker import Ticker, tickables


def beat(settings: Settings, client: redis.Redis, sent: list[str]) -> Ticker:
    """A beat process's ticker; its trigger marks and records a deliver message."""
    scripts = Scripts()
    parts = tickables(settings, client, scripts)

    def trigger(name: str) -> bool:
        if not parts[name].queue.mark_trigger(settings.delivery.trigger_ttl_ms):
            return False
        sent.append(name)
        return True

    return Ticker(settings, client, scripts, parts, trigger)


def test_two_beats_tick_once_per_interval_and_start_a_delivery_once(
    redis_url: str, redis_client: redis.Redis
) -> None:
    providers = {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]}
    settings = load_settings({"redis": {"url": redis_url}, "providers": providers}, environ={})
    sent: list[str] = []
    first, second = beat(settings, redis_client, sent), beat(settings, redis_client, sent)
    raws = [json.dumps({"n": i}) for i in range(100)]  # a full batch: due at once
    first.scripts.call(redis_client, enqueue_call(raws), Keys("graspil"))
    assert first.tick() == {"graspil": 1}
    assert second.tick() is None  # the other beat, within the interval: no tick at all
    assert second.tick(force=True) == {}  # tracking-worker tick: ticks, the message is marked
    assert sent == ["graspil"]
    redis_client.set("tw:tick", float(redis_client.get("tw:tick") or 0) - first.interval)
    assert second.tick() == {}  # an interval later: the other beat's turn
