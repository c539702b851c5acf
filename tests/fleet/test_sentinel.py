"""Through Sentinel, as configured in production (``redis.sentinels`` and ``master_name``, a
password on every node and sentinel): track() and atrack() enqueue, a Celery worker and beat
deliver to the sandbox, and the commands read the master the sentinels name. Nothing reaches
Redis by ``redis.url``'s host: it is a name no resolver knows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from tests.fleet.topology import SentinelGroup
from tests.helpers import wait_for
from tests.ops.support import cli
from tests.system import System
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.sandbox import SandboxServer

PROVIDERS = ["graspil", "grampixel"]


def test_track_atrack_and_a_worker_deliver_through_sentinel(
    group: SentinelGroup, make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(
        providers=PROVIDERS, redis_url=group.settings()["url"], redis=group.settings()
    )
    system.wait_worker_ready()  # Celery's broker too: sentinel:// with master_name
    system.tracker.track_many(
        [
            {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
            for n in range(1, 151)
        ]
    )

    async def more() -> None:
        async with AsyncTracker(tracker=system.tracker) as tracker:
            for n in range(151, 201):
                await tracker.track("purchase", telegram_id=n, value=1.0, currency="USD")

    asyncio.run(more())
    for provider in PROVIDERS:
        wait_for(lambda p=provider: system.settled(p, 200), 30, message=system.log())
    assert sorted(int(i["user_id"]) for i in sandbox.received("graspil")) == list(range(1, 201))
    assert sorted(int(i["telegram_id"]) for i in sandbox.received("grampixel")) == list(
        range(1, 201)
    )
    master = group.master().client()
    assert int(master.hget("tw:{graspil}:stats", "delivered") or 0) == 200
    master.close()


def test_check_and_status_read_the_master_the_sentinels_name(
    group: SentinelGroup, make_system: Callable[..., System]
) -> None:
    system = make_system(
        providers=PROVIDERS, redis_url=group.settings()["url"], redis=group.settings(), beat=False
    )
    system.tracker.track("purchase", telegram_id=7, value=1.0, currency="USD")
    checked = cli(system.env, "check", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == {"ok": True, "providers": PROVIDERS}
    status = cli(system.env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["graspil"]["enqueued"] >= 1, status.stdout
