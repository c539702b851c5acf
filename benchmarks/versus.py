"""This checkout's worker against another checkout's, draining the same backlog, alternated.

These VMs' speed drifts by a quarter within an hour, so two runs apart compare nothing: a
change to the worker is measured against the code before it in the same minutes, pair by pair.
Every run is the harness's own drain (``benchmarks.stand.drain``: one redis-server and provider
fake for all runs, a backlog queued before the workers start); only the worker's code differs:
its processes import ``tracking_worker`` from the checkout under test (``PYTHONPATH``), while
this process queues the backlog with this checkout's (the queued JSON is the same for both).

    git worktree add /tmp/before HEAD~3
    python -m benchmarks.versus /tmp/before [--provider graspil] [--concurrency 2] [--pairs 6]

Prints each run, then per measure the medians and the median of the per-pair ratios (this
checkout / the other), which is what to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.stand import Stand, drain
from benchmarks.systems import Ours

HERE = Path(__file__).resolve().parent.parent
MEASURES = (
    ("steady_events_per_second", "events/s from the first delivery"),
    ("events_per_second", "events/s from worker start"),
    ("cpu_per_1000", "worker CPU s per 1,000"),
    ("redis_cpu_per_1000", "redis-server CPU s per 1,000"),
)
BACKLOG = {"graspil": 80_000, "grampixel": 4_000}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.versus", description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--provider", choices=sorted(BACKLOG), default="graspil")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--backlog", type=int, help="events queued (default: per provider)")
    args = parser.parse_args(argv)
    if not (args.other / "tracking_worker" / "__init__.py").is_file():
        parser.error(f"{args.other} holds no tracking_worker package")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sides = {"other": args.other.resolve(), "this": HERE}
    backlog = args.backlog or BACKLOG[args.provider]
    home = Path(tempfile.mkdtemp(prefix="tw-versus-"))
    print(f"logs and data: {home}")
    os.chdir(home)  # `python -m celery` puts the working folder first on its path
    stand = Stand(home)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for pair in range(args.pairs):
            for side, root in sides.items():
                os.environ["PYTHONPATH"] = str(root)  # the workers' code; read by use()
                ours = Ours(home, stand.redis.url, stand.fake_url)
                got = drain(
                    stand,
                    ours,
                    args.provider,
                    latency=args.latency_ms / 1000,
                    backlog=backlog,
                    concurrency=args.concurrency,
                    cap=60.0,
                    run=f"{pair:02d}-{side}",
                )
                runs[side].append(got)
                shown = ", ".join(f"{label} {number(got.get(key))}" for key, label in MEASURES)
                print(f"pair {pair + 1} {side}: {shown}")
    finally:
        stand.stop()
    print(
        f"\n{args.provider}, {args.latency_ms} ms, --concurrency {args.concurrency}, "
        f"{backlog:,} queued, {args.pairs} pairs; ratio = this / other"
    )
    for key, label in MEASURES:
        this = [r.get(key) or 0.0 for r in runs["this"]]
        other = [r.get(key) or 0.0 for r in runs["other"]]
        ratios = [t / o for t, o in zip(this, other, strict=True) if o] or [0.0]
        print(
            f"{label:32} other {number(statistics.median(other)):>8}  this "
            f"{number(statistics.median(this)):>8}  ratio {statistics.median(ratios):.3f} "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return 0


def number(value: float | None) -> str:
    """Rates as whole numbers, CPU seconds with three significant digits."""
    value = value or 0.0
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


if __name__ == "__main__":
    raise SystemExit(main())
