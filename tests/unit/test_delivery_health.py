"""What one round says about a provider: bounded pauses, never a tight loop or a years-long one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis

from tracking_worker.circuit import FAILURE, THROTTLE, Circuit
from tracking_worker.delivery import Deliverer
from tracking_worker.keys import Keys
from tracking_worker.outcomes import Delivered, Retry
from tracking_worker.queue import ProviderQueue
from tracking_worker.scripts import Scripts
from tracking_worker.settings import load_settings
from tracking_worker.transport import Transport

GRAMPIXEL = {"api_key": "gp-key-1234", "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90"}


def deliverer(client: redis.Redis, **provider: object) -> Deliverer:
    settings = load_settings(
        {
            "delivery": {"breaker_cooldown": 5, "breaker_cooldown_cap": 300},
            "providers": {"grampixel": {**GRAMPIXEL, **provider}},
        },
        environ={},
    )
    p = settings.build_providers()["grampixel"]
    scripts, keys = Scripts(), Keys("grampixel")
    return Deliverer(
        p,
        ProviderQueue(client, scripts, keys),
        Circuit(client, scripts, keys, settings.delivery),
        Transport(max_connections=1, timeout=p.timeout),
        ThreadPoolExecutor(1),
        settings.delivery,
    )


def test_retry_after_zero_still_pauses_one_cooldown(redis_client: redis.Redis) -> None:
    kind, wait, _, _ = deliverer(redis_client)._health(
        [("e", Retry("429", 429, after=0.0, throttled=True))]
    )
    assert (kind, wait) == (THROTTLE, 5.0)


def test_a_retry_after_of_years_is_capped(redis_client: redis.Redis) -> None:
    d = deliverer(redis_client)
    assert d._health([("e", Retry("429", 429, after=1e9, throttled=True))])[1] == 300.0
    assert d._health([("e", Retry("503", 503, after=1e9))])[:2] == (FAILURE, 300.0)


def test_a_round_with_any_delivery_is_no_failure(redis_client: redis.Redis) -> None:
    kind, _, _, _ = deliverer(redis_client)._health([("a", Retry("503", 503)), ("b", Delivered())])
    assert kind == "success"


def test_a_failed_round_counts_each_failed_request(redis_client: redis.Redis) -> None:
    failed = [(str(n), Retry("503", 503)) for n in range(7)]
    assert deliverer(redis_client)._health(failed, requests=7)[::3] == (FAILURE, 7)


def test_claims_fit_the_rate_limit_within_half_a_lease(redis_client: redis.Redis) -> None:
    d = deliverer(redis_client, rate_limit=0.4)
    assert d.claim_size == 12  # 0.4 req/s * 60 s / 2
    assert d.provider.claim_size(60.0) == 12
    assert deliverer(redis_client).claim_size == 128  # 8 x 16 connections without a limit
