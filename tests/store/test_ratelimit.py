"""The shared rate limit: a token bucket in Redis, checked with a fake clock."""

from __future__ import annotations

import redis

from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.ratelimit import RateLimiter


def test_requests_are_spaced_to_the_rate(redis_client: redis.Redis) -> None:
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(
        redis_client, Scripts(), Keys("giosg"), 5.0, clock=lambda: now[0], sleep=sleep
    )
    for _ in range(5):
        assert limiter.acquire() == 0.0  # the burst: one second's worth
    for _ in range(10):
        limiter.acquire()
    assert now[0] - 1000.0 == pytest_approx(2.0)
    assert all(abs(w - 0.2) < 1e-6 for w in waits)


def test_two_limiters_share_one_bucket(redis_client: redis.Redis) -> None:
    now = [50.0]
    a = RateLimiter(
        redis_client,
        Scripts(),
        Keys("giosg"),
        2.0,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    b = RateLimiter(
        redis_client,
        Scripts(),
        Keys("giosg"),
        2.0,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    a.acquire()
    b.acquire()
    assert b.acquire() > 0  # the second worker sees the first one's requests


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, abs=1e-6)
