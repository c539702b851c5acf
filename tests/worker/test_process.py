"""One worker process's tick and start-up checks, against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers import enqueue_call
from tests.store.timetravel import redis_now
from tracking_worker.keys import Keys
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.worker.process import WorkerProcess, warn_if_evicting


def settings_on(redis_url: str) -> Settings:
    providers = {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]}
    return load_settings({"redis": {"url": redis_url}, "providers": providers}, environ={})


@pytest.mark.parametrize("skew", [-600.0, 600.0])
def test_a_tick_whose_clock_is_minutes_off_reaps_no_live_lease(
    redis_url: str, redis_client: redis.Redis, skew: float
) -> None:
    """Leases, due times and reaping use Redis TIME: a tick host whose clock runs ten minutes
    ahead (or behind) leaves a live lease alone and still reaps an expired one."""
    settings = settings_on(redis_url)
    sent: list[str] = []
    ticker = WorkerProcess(
        settings, lambda p, flush: sent.append(p), clock=lambda: time.time() + skew
    )
    queue = ticker.deliverers["graspil"].queue
    keys = Keys("graspil")
    k = queue.keys
    queue.scripts.call(redis_client, enqueue_call(["{}"], max_pending=100, claim_size=100), k)
    live = queue.claim(lease=60, size=10, flush=True, wait=0)
    assert live is not None
    ticker.tick()
    assert abs(float(redis_client.get("tw:tick")) - redis_now(redis_client)) < 5  # Redis time
    assert redis_client.zscore(keys.leases, live.id) is not None
    assert queue.counts()["reaped"] == 0
    redis_client.zadd(keys.leases, {live.id: redis_now(redis_client) - 1})  # its lease ran out
    ticker.tick(force=True)  # within the interval: as tracking-worker tick does
    assert redis_client.zscore(keys.retry, live.id) is not None
    assert queue.counts()["reaped"] == 1 and sent == ["graspil"]


def test_the_worker_warns_when_redis_may_evict(
    redis_url: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_on(redis_url)
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level("WARNING", "tracking_worker"):
            assert warn_if_evicting(settings) == "allkeys-lru"
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
    assert any("noeviction" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert warn_if_evicting(settings) == "noeviction"
    assert not caplog.records
