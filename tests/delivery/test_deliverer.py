"""The Deliverer as a worker process builds it: claim sizes that fit a rate limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis

from tracking_worker.delivery.deliverer import Deliverer
from tracking_worker.delivery.transport import Transport
from tracking_worker.keys import Keys
from tracking_worker.settings import load_settings
from tracking_worker.store.circuit import Circuit
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue

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


def test_claims_fit_the_rate_limit_within_half_a_lease(redis_client: redis.Redis) -> None:
    d = deliverer(redis_client, rate_limit=0.4)
    assert d.claim_size == 12  # 0.4 req/s * 60 s / 2
    assert d.provider.claim_size(60.0) == 12
    assert deliverer(redis_client).claim_size == 128  # 8 x 16 connections without a limit
