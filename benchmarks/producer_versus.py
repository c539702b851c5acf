"""This checkout's ``track()``, ``atrack()`` and ``track_many()`` against another checkout's.

The producer's side of ``benchmarks.versus``: each run is a fresh process importing
``tracking_worker`` from the checkout under test (``PYTHONPATH``), against one redis-server
shared by all runs; the two checkouts alternate pair by pair, because this host's speed drifts
by a quarter within an hour. Two providers are configured (graspil and grampixel: one
MULTI/EXEC of two enqueue.lua calls per ``track()``); no worker runs.

    git worktree add /tmp/before HEAD~3
    python -m benchmarks.producer_versus /tmp/before [--pairs 7]

Prints, per measure, both medians and the median of the per-pair ratios (this checkout / the
other), which is what to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tracking_worker.devtools import EmbeddedRedis

HERE = Path(__file__).resolve().parent.parent
MEASURES = (
    ("track_us", "track() median, µs"),
    ("atrack_us", "atrack() median, µs (one task)"),
    ("many_per_s", "track_many(10,000), events/s"),
)

#: One run, in a process of its own: the checkout under test comes first on its path.
RUN = r"""
import asyncio, json, statistics, sys, tempfile, time
import redis, tracking_worker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings

url = sys.argv[1]
every = provider_settings("http://127.0.0.1:9")
settings = load_settings({"redis": {"url": url}, "producer": {"spool_dir": tempfile.mkdtemp()},
    "providers": {n: every[n] for n in ("graspil", "grampixel")}}, environ={})
tracker = tracking_worker.configure(settings)
tracker.trigger = lambda name: None  # no worker: only the enqueue is measured
flush = redis.Redis.from_url(url).flushall

def event(n):
    return {"telegram_id": n, "email": "a@example.com", "value": 9.99, "currency": "usd",
            "order_id": f"A-{n}", "properties": {"plan": "pro"}}

def timed(call, count):
    spent = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        spent.append(time.perf_counter() - start)
    return statistics.median(spent) * 1e6

timed(lambda n: tracking_worker.track("purchase", **event(n + 1)), 500)
track_us = timed(lambda n: tracking_worker.track("purchase", **event(n + 1)), 4000)
flush()

async def atracked():
    tracking_worker.get_async_tracker().tracker.trigger = lambda name: None
    for n in range(300):
        await tracking_worker.atrack("purchase", **event(n + 1))
    spent = []
    for n in range(2000):
        start = time.perf_counter()
        await tracking_worker.atrack("purchase", **event(n + 1))
        spent.append(time.perf_counter() - start)
    await tracking_worker.aclose()
    return statistics.median(spent) * 1e6

atrack_us = asyncio.run(atracked())
flush()
batch = [{"name": "purchase", **event(n + 1)} for n in range(10_000)]
start = time.perf_counter()
tracking_worker.track_many(batch)
many_per_s = len(batch) / (time.perf_counter() - start)
flush()
print(json.dumps({"track_us": track_us, "atrack_us": atrack_us, "many_per_s": many_per_s}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    prog = "python -m benchmarks.producer_versus"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args(argv)
    if not (args.other / "tracking_worker" / "__init__.py").is_file():
        parser.error(f"{args.other} holds no tracking_worker package")
    return args


def run(checkout: Path, url: str) -> dict[str, float]:
    return run_script(RUN, url, checkout)


def run_script(script: str, arg: str, checkout: Path) -> dict[str, float]:
    """``script`` in a fresh process importing ``tracking_worker`` from ``checkout``, ``arg`` its
    argv[1]; the figures its last line prints as JSON."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", script, arg],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sides = {"other": args.other.resolve(), "this": HERE}
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="tw-producer-versus-")), appendonly=False)
    server.start()
    results: dict[str, list[dict[str, float]]] = {"other": [], "this": []}
    try:
        for pair in range(args.pairs):
            for side in ("other", "this") if pair % 2 == 0 else ("this", "other"):
                results[side].append(run(sides[side], server.url))
                print(f"pair {pair + 1} {side}: {json.dumps(results[side][-1])}", flush=True)
    finally:
        server.stop()
    print(f"\n{args.pairs} pairs; ratio = this / other")
    for key, label in MEASURES:
        other = [r[key] for r in results["other"]]
        this = [r[key] for r in results["this"]]
        ratios = [a / b for a, b in zip(this, other, strict=True)]
        print(
            f"{label:32s} other {statistics.median(other):10,.1f}  this "
            f"{statistics.median(this):10,.1f}  ratio {statistics.median(ratios):.3f} "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
