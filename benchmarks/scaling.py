"""The ``scaling`` scenario: one provider's backlog drained by 1, 2 and 4 worker processes laid
out as a fleet runs them (two "hosts": separate ``celery -n`` nodes), events/s from the first
delivery to the last (start-up apart), and each layout's rate over one process's in the same
round. Ours only: A and B send one request per process at a time, so their rates grow with
processes by construction (the ``concurrency`` rows show it).

A one-event provider at 50 ms (GramPixel: one process sends over its 16 connections, at most
16 / 0.05 = 320 events/s) and a batching one at 200 ms (Graspil: 16 requests of 100 in flight
per process, about 8,000 events/s). The issue's targets: 2 processes at least 1.8 times one,
4 at least 3.2 times. Beside them, the longest time since beat's last tick while every
process delivers: the tick runs in beat's own process, so it keeps its interval (0.5 s here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.report import PROVIDER_NAMES, Results
from benchmarks.stand import Stand, drain
from benchmarks.systems import System

#: (provider, latency in ms).
CASES = (("grampixel", 50), ("graspil", 200))
#: Worker processes -> (nodes, ``--concurrency`` of each).
LAYOUTS = {1: (1, 1), 2: (2, 1), 4: (2, 2)}
#: What the issue asks of 2 and 4 processes, against one.
TARGETS = {2: 1.8, 4: 3.2}


def declare_rows(results: Results, backlogs: dict[str, int]) -> None:
    for provider, ms in CASES:
        name, backlog = PROVIDER_NAMES[provider], backlogs[provider]
        for processes, (nodes, concurrency) in LAYOUTS.items():
            label = (
                f"{name}, {ms} ms, {processes} worker process(es) = {nodes} node(s) x "
                f"--concurrency {concurrency}, first to last delivery ({backlog:,} queued)"
            )
            results.row(f"scaling.{provider}.{processes}", label, "events/s")
        for processes, target in TARGETS.items():
            label = f"  {processes} processes over 1, per round (target >= {target:g})"
            results.row(f"scaling.{provider}.{processes}x", label, "x")
    label = "longest since beat's last tick during the scaling drains (interval 0.5 s)"
    results.row("scaling.tick", label, "s", higher_is_better=False)


def run_round(
    stand: Stand,
    system: System,
    results: Results,
    *,
    backlogs: dict[str, int],
    cap: float,
    run_name: Callable[[str], str],
    say: Callable[[str], None],
) -> None:
    """Every case and layout once, then this round's ratios."""
    for provider, ms in CASES:
        rates: dict[int, float] = {}
        for processes, (nodes, concurrency) in LAYOUTS.items():
            got = drain(
                stand,
                system,
                provider,
                latency=ms / 1000,
                backlog=backlogs[provider],
                concurrency=concurrency,
                nodes=nodes,
                cap=cap,
                run=run_name(f"scaling-{provider}-p{processes}"),
            )
            got.update(provider=provider, latency_ms=ms, concurrency=concurrency)
            rates[processes] = got.get("steady_events_per_second") or 0.0
            results.rows[f"scaling.{provider}.{processes}"].add(system.key, rates[processes], got)
            if got.get("tick_gap") is not None:
                results.rows["scaling.tick"].add(system.key, got["tick_gap"])
            if "startup_seconds" in got:
                results.rows["startup"].add(system.key, got["startup_seconds"])
            say(_line(provider, ms, processes, got, rates))
        for processes in TARGETS:
            ratio = rates[processes] / rates[1] if rates[1] else None
            results.rows[f"scaling.{provider}.{processes}x"].add(system.key, ratio)


def _line(
    provider: str, ms: int, processes: int, got: dict[str, Any], rates: dict[int, float]
) -> str:
    ratio = f", {rates[processes] / rates[1]:.2f}x one" if processes > 1 and rates.get(1) else ""
    state = "drained" if got["drained"] else "capped"
    gap = got.get("tick_gap")
    tick = f", tick gap {gap:.2f} s" if gap is not None else ""
    return (
        f"scaling {provider} {ms} ms p{processes}: {rates[processes]:,.0f} events/s from the "
        f"first delivery{ratio} ({got['delivered']:,}/{got['backlog']:,} {state}{tick})"
    )
