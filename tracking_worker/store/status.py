"""Per-provider counts read from Redis, and the table the CLI and ``make run`` print."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from ..keys import Keys
from ..settings import Settings
from .circuit import Circuit
from .lua_scripts import Scripts
from .queue import ProviderQueue

COLUMNS = (
    ("provider", "provider"),
    ("queued", "pending"),
    ("in_flight", "leased_batches"),
    ("retrying", "in_retry"),
    ("delivered", "delivered"),
    ("dead", "dead"),
    ("skipped", "skipped"),
    ("dropped", "dropped"),
    ("requests", "requests"),
    ("circuit", "circuit"),
)


def collect(settings: Settings, client: redis.Redis) -> dict[str, dict[str, int | str]]:
    scripts = Scripts()
    rows: dict[str, dict[str, int | str]] = {}
    for name in settings.providers:
        keys = Keys(name, settings.redis.key_prefix)
        counts: dict[str, int | str] = dict(ProviderQueue(client, scripts, keys).counts())
        counts["circuit"] = Circuit(client, scripts, keys, settings.delivery).state()["state"]
        rows[name] = counts
    return rows


def render(rows: Mapping[str, Mapping[str, int | str]]) -> str:
    """A fixed-width table, one line per provider plus a total."""
    header = [title for title, _ in COLUMNS]
    lines = [header]
    totals: dict[str, int] = {}
    for name, counts in rows.items():
        line = [name]
        for _, key in COLUMNS[1:]:
            value = counts.get(key, 0)
            line.append(str(value))
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
        lines.append(line)
    lines.append(["total"] + [str(totals.get(key, "")) for _, key in COLUMNS[1:]])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in lines
    )
