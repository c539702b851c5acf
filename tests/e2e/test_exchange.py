"""One request per provider against its emulator, through the real transport: the mapping is
accepted as the API documents it, and timeouts, resets and refused connections are retries."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tracking_worker.delivery.deliverer import Deliverer
from tracking_worker.delivery.transport import Transport
from tracking_worker.devtools import demo_providers, free_port
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.outcomes import Delivered, Retry
from tracking_worker.sandbox import SandboxServer
from tracking_worker.settings import load_settings
from tracking_worker.store.circuit import Circuit
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue

ALL = ["graspil", "tganalytics", "grampixel", "giosg", "vibetrace"]
EVENT = Event(
    event_id="e-1",
    name="purchase",
    occurred_at="2024-08-03T18:00:00.123+00:00",
    telegram_id=77,
    email="ann@example.test",
    visitor_id="visitor-77",
    session_id=str(uuid.uuid4()),
    value=12.5,
    currency="EUR",
    order_id="A-77",
    properties={"items": [{"id": "sku-1", "quantity": 2}]},
    context={"platform": "ios"},
)


def deliverer(
    name: str, base_url: str, client: redis.Redis, read_timeout: float = 2.0
) -> Deliverer:
    conf = {**demo_providers(base_url)[name], "connect_timeout": 0.5, "read_timeout": read_timeout}
    settings = load_settings({"providers": {name: conf}}, environ={})
    provider = settings.build_providers()[name]
    scripts, keys = Scripts(), Keys(name)
    return Deliverer(
        provider,
        ProviderQueue(client, scripts, keys),
        Circuit(client, scripts, keys, settings.delivery),
        Transport(max_connections=2, timeout=provider.timeout),
        ThreadPoolExecutor(2),
        settings.delivery,
    )


def exchange(d: Deliverer) -> object:
    return d.sender._exchange(d.provider.build_request([EVENT]), [(EVENT.to_json(), EVENT)])


@pytest.mark.parametrize("name", ALL)
def test_the_mapping_is_what_the_emulator_accepts(
    name: str, sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    assert isinstance(exchange(deliverer(name, sandbox.url, redis_client)), Delivered)
    [record] = sandbox.requests(name)
    assert record["outcome"] == "accepted" and record["status"] < 300


@pytest.mark.parametrize("name", ALL)
def test_connection_reset_and_timeout_are_retried(
    name: str, sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    d = deliverer(name, sandbox.url, redis_client, read_timeout=0.3)
    sandbox.add_fault(name, 0, count=1)  # the connection closes without an answer
    reset = exchange(d)
    assert isinstance(reset, Retry) and reset.reason.startswith("connection error")
    sandbox.set_latency(name, 1.0)
    slow = exchange(d)
    assert isinstance(slow, Retry) and slow.reason.startswith("timeout")
    assert not slow.throttled and slow.status is None


def test_a_refused_connection_is_retried(redis_client: redis.Redis) -> None:
    d = deliverer("graspil", f"http://127.0.0.1:{free_port()}", redis_client)
    refused = exchange(d)
    assert isinstance(refused, Retry) and refused.reason.startswith("connection error")
