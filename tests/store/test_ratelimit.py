"""The shared rate limit: a token bucket in Redis, on Redis's clock."""

from __future__ import annotations

import pytest
import redis

from tests.store.timetravel import advance
from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.ratelimit import RateLimiter


def limiter(client: redis.Redis, rate: float, waits: list[float]) -> RateLimiter:
    """Its sleeps let Redis time pass instead of waiting."""

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        advance(client, Keys("giosg"), seconds)

    return RateLimiter(client, Scripts(), Keys("giosg"), rate, sleep=sleep)


def test_requests_are_spaced_to_the_rate(redis_client: redis.Redis) -> None:
    waits: list[float] = []
    limit = limiter(redis_client, 5.0, waits)
    for _ in range(5):
        assert limit.acquire() == 0.0  # the burst: one second's worth
    for _ in range(10):
        limit.acquire()
    assert sum(waits) == pytest.approx(2.0, abs=0.1)
    assert all(w <= 0.2 + 1e-6 for w in waits)


def test_two_limiters_share_one_bucket(redis_client: redis.Redis) -> None:
    a, b = limiter(redis_client, 2.0, []), limiter(redis_client, 2.0, [])
    a.acquire()
    b.acquire()
    waits: list[float] = []
    limiter(redis_client, 2.0, waits).acquire()
    assert waits and waits[0] > 0  # a third worker sees the first two's requests
