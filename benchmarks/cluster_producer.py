"""The web side on a Redis Cluster against one Redis: ``track()``, ``atrack()`` and
``track_many()`` with all five providers configured, this checkout's code on both.

On one Redis a ``track()`` is one MULTI/EXEC of five ``enqueue.lua`` calls on one pinned
connection; on a three-master cluster the five providers' slots sit on three nodes, so it is
one write to each of the three, then their replies (``store/cluster_intake.py``). Each run is a
fresh process; the two sides alternate run by run against the same servers (one redis-server,
and a cluster of three built with CLUSTER ADDSLOTS/MEET), because this host's speed drifts.

    python -m benchmarks.cluster_producer [--pairs 5]

Prints both sides' medians per measure and the median of the per-pair ratios (cluster / one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.producer_versus import HERE, run_script
from tracking_worker.devtools import EmbeddedCluster, EmbeddedRedis

MEASURES = (
    ("track_us", "track() median, µs"),
    ("track_p99_us", "track() p99, µs"),
    ("atrack_us", "atrack() median, µs (one task)"),
    ("many_per_s", "track_many(10,000), events/s"),
)

#: One run, in a process of its own: argv[1] is the ``[redis]`` section as JSON.
RUN = r"""
import asyncio, json, statistics, sys, tempfile, time
import tracking_worker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings

redis_section = json.loads(sys.argv[1])
settings = load_settings({"redis": redis_section, "producer": {"spool_dir": tempfile.mkdtemp()},
    "providers": provider_settings("http://127.0.0.1:9")}, environ={})
tracker = tracking_worker.configure(settings)
tracker.trigger = lambda name: None  # no worker: only the enqueue is measured

def event(n):
    return {"telegram_id": n, "email": "a@example.com", "value": 9.99, "currency": "usd",
            "order_id": f"A-{n}", "visitor_id": f"v-{n}", "properties": {"plan": "pro"}}

def timed(call, count):
    spent = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        spent.append(time.perf_counter() - start)
    return spent

timed(lambda n: tracking_worker.track("purchase", **event(n + 1)), 300)
spent = timed(lambda n: tracking_worker.track("purchase", **event(n + 1)), 3000)
track_us = statistics.median(spent) * 1e6
track_p99_us = statistics.quantiles(spent, n=100)[98] * 1e6

async def atracked():
    tracking_worker.get_async_tracker().tracker.trigger = lambda name: None
    for n in range(200):
        await tracking_worker.atrack("purchase", **event(n + 1))
    spent = []
    for n in range(1500):
        start = time.perf_counter()
        await tracking_worker.atrack("purchase", **event(n + 1))
        spent.append(time.perf_counter() - start)
    await tracking_worker.aclose()
    return statistics.median(spent) * 1e6

atrack_us = asyncio.run(atracked())
batch = [{"name": "purchase", **event(n + 1)} for n in range(10_000)]
start = time.perf_counter()
tracking_worker.track_many(batch)
many_per_s = len(batch) / (time.perf_counter() - start)
print(json.dumps({"track_us": track_us, "track_p99_us": track_p99_us, "atrack_us": atrack_us,
    "many_per_s": many_per_s}))
"""


def run(redis_section: dict[str, Any]) -> dict[str, float]:
    return run_script(RUN, json.dumps(redis_section), HERE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_producer")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tw-cluster-producer-"))
    one = EmbeddedRedis(home / "one", appendonly=False).start()
    cluster = EmbeddedCluster(home / "cluster").start()
    sides = {"one": {"url": one.url}, "cluster": cluster.settings()}
    results: dict[str, list[dict[str, float]]] = {"one": [], "cluster": []}
    try:
        for pair in range(args.pairs):
            for side in ("one", "cluster") if pair % 2 == 0 else ("cluster", "one"):
                with one.client() as client:
                    client.flushall()
                cluster.flush()
                results[side].append(run(sides[side]))
                print(f"pair {pair + 1} {side}: {json.dumps(results[side][-1])}", flush=True)
    finally:
        cluster.stop()
        one.stop()
    print(f"\n{args.pairs} pairs, five providers; ratio = cluster / one Redis")
    for key, label in MEASURES:
        base = [r[key] for r in results["one"]]
        other = [r[key] for r in results["cluster"]]
        ratios = [a / b for a, b in zip(other, base, strict=True)]
        print(
            f"{label:32s} one {statistics.median(base):10,.1f}  cluster "
            f"{statistics.median(other):10,.1f}  ratio {statistics.median(ratios):.3f} "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
