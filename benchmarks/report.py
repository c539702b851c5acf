"""Results: per-round values collected by row and system, summarised as median (min-max), written
to results.json, printed as a table, and drawn as latency.png (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEMS = ("ours", "A", "B")
LABELS = {"ours": "ours", "A": "A: task per event", "B": "B: celery-batches"}
PROVIDER_NAMES = {"graspil": "Graspil", "grampixel": "GramPixel"}


@dataclass
class Row:
    """One line of the table: what was measured, its unit, and each system's per-round values."""

    key: str
    label: str
    unit: str
    values: dict[str, list[float]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Higher is better (events/s) or lower is better (ms, bytes, CPU seconds).
    higher_is_better: bool = True

    def add(self, system: str, value: float | None, run: dict[str, Any] | None = None) -> None:
        if value is not None:
            self.values.setdefault(system, []).append(value)
        self.runs.setdefault(system, []).append(run or {})

    def summary(self, system: str) -> dict[str, float] | None:
        values = self.values.get(system)
        if not values:
            return None
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "systems": {
                system: {"values": self.values.get(system, []), **(self.summary(system) or {})}
                for system in SYSTEMS
                if system in self.values or system in self.runs
            },
            "runs": self.runs,
        }


class Results:
    """Rows in the order they were first measured."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def row(self, key: str, label: str, unit: str, *, higher_is_better: bool = True) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(key, label, unit, higher_is_better=higher_is_better)
        return self.rows[key]

    def write_json(self, path: Path, meta: dict[str, Any], extra: dict[str, Any]) -> None:
        data = {"meta": meta, **extra, "rows": [row.as_dict() for row in self.rows.values()]}
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(summary: dict[str, float] | None, rounds: int) -> str:
    """``median (min-max)``, or the one value of a single round."""
    if summary is None:
        return "-"
    if rounds <= 1 or summary["min"] == summary["max"]:
        return _number(summary["median"])
    low, high = _number(summary["min"]), _number(summary["max"])
    return f"{_number(summary['median'])} ({low}-{high})"


def table(results: Results, rounds: int) -> str:
    """The printed table: one row per measurement, naming its unit."""
    rows = list(results.rows.values())
    head = ["measurement", "unit", *(LABELS[s] for s in SYSTEMS)]
    body = [[row.label, row.unit, *(cell(row.summary(s), rounds) for s in SYSTEMS)] for row in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
        for line in body
    ]
    return "\n".join(lines)


def chart(results: Results, path: Path, latencies: list[int]) -> bool:
    """events/s against provider latency, ours vs A vs B, one panel per provider; False when
    there is nothing to draw (the drain scenarios were filtered out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    providers = [
        p for p in PROVIDER_NAMES if any(f"drain.{p}.{ms}" in results.rows for ms in latencies)
    ]
    if not providers:
        return False
    fig, axes = plt.subplots(1, len(providers), figsize=(6 * len(providers), 4.5), squeeze=False)
    for ax, provider in zip(axes[0], providers, strict=True):
        for system, marker in zip(SYSTEMS, ("o", "s", "^"), strict=True):
            xs, ys, low, high = [], [], [], []
            for ms in latencies:
                row = results.rows.get(f"drain.{provider}.{ms}")
                summary = row.summary(system) if row else None
                if summary is None or summary["median"] <= 0:
                    continue
                xs.append(ms)
                ys.append(summary["median"])
                low.append(summary["median"] - summary["min"])
                high.append(summary["max"] - summary["median"])
            if xs:
                ax.errorbar(
                    xs, ys, yerr=[low, high], marker=marker, capsize=4, label=LABELS[system]
                )
        ax.set_yscale("log")
        ax.set_xticks(latencies)
        ax.set_xlabel("provider latency per request (ms)")
        ax.set_ylabel("events/s delivered (from worker start)")
        ax.set_title(f"Backlog drain → {PROVIDER_NAMES[provider]}, --concurrency 2")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("median of rounds; bars: min-max")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
