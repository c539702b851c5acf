"""Through Sentinel, as configured in production (``redis.sentinels`` and ``master_name``, a
password on every node and sentinel): track() and atrack() enqueue, a Celery worker and beat
deliver to the sandbox, and the commands, the exporter and Flower read the master the sentinels
name. Nothing reaches
Redis by ``redis.url``'s host: it is a name no resolver knows."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

from tests.fleet.topology import SentinelGroup
from tests.helpers import wait_for
from tests.ops.support import cli
from tests.ops.test_flower import CREDENTIALS, get, start_flower
from tests.system import System
from tracking_worker.devtools import free_port
from tracking_worker.ops.exporter import registry
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.connection import scrape_client

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


def test_check_status_and_metrics_read_the_master_the_sentinels_name(
    group: SentinelGroup, make_system: Callable[..., System]
) -> None:
    system = make_system(
        providers=PROVIDERS, redis_url=group.settings()["url"], redis=group.settings(), beat=False
    )
    system.tracker.track("purchase", telegram_id=7, value=1.0, currency="USD")
    checked = cli(system.env, "check", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == {
        "ok": True,
        "providers": PROVIDERS,
        "optional_refused": [],
    }
    status = cli(system.env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["graspil"]["enqueued"] >= 1, status.stdout
    scrape = generate_latest(registry(system.settings, scrape_client(system.settings))).decode()
    assert "tracking_worker_up 1.0" in scrape, scrape[:500]
    assert 'tracking_worker_enqueued_events_total{provider="graspil"} 1.0' in scrape


def test_flower_as_the_procfile_runs_it_reaches_the_workers_through_sentinel(
    group: SentinelGroup, make_system: Callable[..., System], tmp_path: Path
) -> None:
    """Flower's broker is our app's: sentinel:// with master_name (its Broker tab too)."""
    system = make_system(
        providers=PROVIDERS, redis_url=group.settings()["url"], redis=group.settings(), beat=False
    )
    system.wait_worker_ready()
    port = free_port()
    env = {
        **system.env,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": CREDENTIALS,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    flower = start_flower(env, tmp_path / "flower.log")
    base = f"http://127.0.0.1:{port}"
    try:
        workers = wait_for(
            lambda: (get(f"{base}/api/workers?refresh=1", CREDENTIALS)[1] or {}).get(
                system.hostname
            ),
            30,
            interval=0.3,
            message=f"flower lists the worker\n{(tmp_path / 'flower.log').read_text()[-3000:]}",
        )
        queues = {q["name"] for q in workers.get("active_queues", [])}
        assert {"tracking.graspil", "tracking.grampixel"} <= queues, workers
        status, page = get_text(f"{base}/broker", CREDENTIALS)
        assert status == 200 and "sentinel://" in page, page[:2000]
        text = re.sub(r"<[^>]+>", " ", page)  # the queues' lengths, read through the sentinels
        assert re.search(r"tracking\.graspil\s+0\b", text), text[-1500:]
    finally:
        os.killpg(flower.pid, signal.SIGKILL)
        flower.wait()


def get_text(url: str, auth: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.read().decode()
