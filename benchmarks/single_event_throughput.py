"""Throughput of one worker process to one single-event provider (GramPixel) with 50 ms latency.

Starts a private redis-server and the sandbox (its own process), enqueues N events, then runs
one Celery worker process (solo pool) and times first-to-last delivery. The baseline is the same
run with ``max_connections = 1`` (one request at a time), in the same process tree.

    python benchmarks/single_event_throughput.py [--events 3000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

from tracking_worker.devtools import (
    Child,
    EmbeddedRedis,
    demo_providers,
    free_port,
    sandbox_args,
    wait_http,
    worker_args,
    write_config,
)
from tracking_worker.keys import Keys
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import load_settings

PROVIDER = "grampixel"


def run_once(
    home: Path, redis_url: str, sandbox_url: str, *, events: int, max_connections: int
) -> tuple[float, float, int]:
    """Seconds from worker start to the last delivery, of which worker start-up (to the first
    delivery), and the count delivered."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    config = home / f"bench-{max_connections}.toml"
    provider = {**demo_providers(sandbox_url)[PROVIDER], "max_connections": max_connections}
    write_config(
        config,
        {
            "redis": {"url": redis_url},
            "delivery": {"flush_interval": 0.5, "run_seconds": 60.0},
            "providers": {PROVIDER: provider},
        },
    )
    env = {**os.environ, "TRACKING_CONFIG": str(config)}
    env.pop("TRACKING_REDIS_URL", None)
    tracker = Tracker(load_settings(environ=env))
    tracker.producer.trigger = lambda name: None  # no worker yet: the timer starts with it
    for start in range(0, events, 500):
        tracker.track_many(
            [
                {"name": "purchase", "telegram_id": 10_000 + i, "value": 5.0, "currency": "USD"}
                for i in range(start, min(events, start + 500))
            ]
        )
    stats = Keys(PROVIDER).stats
    started = time.perf_counter()
    worker = Child(
        "worker", [*worker_args(concurrency=1, pool="solo")], env=env, log_path=home / "worker.log"
    ).start()
    tracker.client.set(Keys(PROVIDER).trigger, "1", px=10_000)
    from tracking_worker.worker.app import create_app, queue_name

    create_app(tracker.settings).send_task(
        "tracking_worker.deliver",
        args=[PROVIDER],
        kwargs={"flush": True},
        queue=queue_name(PROVIDER),
    )
    deadline = time.monotonic() + 600
    delivered = 0
    first: float | None = None
    while time.monotonic() < deadline:
        delivered = int(client.hget(stats, "delivered") or 0)
        if delivered and first is None:
            first = time.perf_counter()
        if delivered >= events:
            break
        time.sleep(0.005)
    finished = time.perf_counter()
    boot = (first or finished) - started
    worker.stop()
    tracker.close()
    return finished - started, boot, delivered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--baseline-events", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    server = EmbeddedRedis(home / "redis", appendonly=True).start()
    port = free_port()
    sandbox = Child("sandbox", sandbox_args(port), log_path=home / "sandbox.log").start()
    sandbox_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{sandbox_url}/_sandbox/health")
        requests.post(
            f"{sandbox_url}/_sandbox/latency",
            timeout=5,
            json={"provider": PROVIDER, "seconds": args.latency},
        ).raise_for_status()
        rows = []
        for label, conns, count in (
            ("baseline: 1 connection", 1, args.baseline_events),
            ("default: 16 connections", 16, args.events),
        ):
            seconds, boot, delivered = run_once(
                home, server.url, sandbox_url, events=count, max_connections=conns
            )
            rows.append(
                (
                    label,
                    delivered,
                    seconds,
                    boot,
                    delivered / seconds,
                    delivered / max(seconds - boot, 1e-9),
                )
            )
    finally:
        sandbox.stop()
        server.stop()
    print(
        f"\nOne worker process (solo pool) → {PROVIDER}, sandbox latency "
        f"{args.latency * 1000:.0f} ms per request\n"
    )
    print(
        f"{'run':<26}{'events':>8}{'seconds':>9}{'start-up':>10}{'events/s':>10}"
        f"{'steady ev/s':>13}{'vs baseline':>13}"
    )
    base = rows[0][5]
    for label, delivered, seconds, boot, rate, steady in rows:
        print(
            f"{label:<26}{delivered:>8}{seconds:>9.2f}{boot:>10.2f}{rate:>10.1f}"
            f"{steady:>13.1f}{steady / base:>12.1f}x"
        )
    print("\nevents/s counts from worker start; steady ev/s from the first delivery on.")
    return 0 if all(row[1] >= 1 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
