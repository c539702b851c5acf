"""The tables operators read: provider status (``status``, ``status --watch``, ``dev``) and dead
letters (``dlq list``). One view each, so every command shows the same columns.

On a terminal they are boxed and coloured; into a pipe or a log file they are plain columns
separated by spaces, one provider per line, so ``awk``/``grep`` (and tests) can read them.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..store.status import OUTCOMES, ProviderStatus, Shown, Snapshot
from ..worker.observability import mask_emails, mask_phones

#: Wide enough that a pipe never wraps a status row.
PLAIN_WIDTH = 240

#: (header, field) in display order. Delivered and dead come right after the live sizes:
#: what an operator looks at first, and what scripts reading columns 5 and 6 rely on. Every
#: header and plain cell is one word, so ``split()`` finds the columns.
STATUS_COLUMNS = (
    ("pending", "pending"),
    ("in_flight", "in_flight"),
    ("retry", "retry_scheduled"),
    ("delivered", "delivered"),
    ("dead", "dead"),
    ("oldest", "oldest_pending_seconds"),
    *((name, name) for name in OUTCOMES if name != "delivered"),
)
_STYLE: Mapping[Shown, str] = {"open": "bold red", "half-open": "yellow", "closed": "green"}


def make_console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    """A terminal console, or a plain wide one when output is not a terminal."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    if stream.isatty():
        return Console(file=stream, stderr=stderr)
    return Console(file=stream, width=PLAIN_WIDTH, color_system=None, highlight=False)


def _table(plain: bool, title: str | None, caption: str | None) -> Table:
    table = Table(
        box=None if plain else box.SIMPLE_HEAVY,
        pad_edge=False,
        show_edge=not plain,
        collapse_padding=not plain,
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
    )
    return table


def status_table(
    snapshot: Snapshot,
    *,
    plain: bool = False,
    title: str | None = None,
    console: Console | None = None,
) -> Table:
    """One row per provider plus a total; the circuit with until when it stays open. Given
    the ``console`` it is for, a terminal too narrow for every column gets the live sizes
    only (the totals are in ``status --json`` and on a wider terminal)."""
    table = _status_table(snapshot, plain, title, STATUS_COLUMNS, compact=False)
    if console is not None:
        natural = Measurement.get(console, console.options.update(width=10_000), table)
        if natural.maximum > console.width:
            table = _status_table(snapshot, plain, title, STATUS_COLUMNS[:6], compact=True)
    return table


def _status_table(
    snapshot: Snapshot,
    plain: bool,
    title: str | None,
    columns: tuple[tuple[str, str], ...],
    *,
    compact: bool,
) -> Table:
    table = _table(plain, title, _caption(snapshot))
    table.add_column("provider", no_wrap=True)
    for header, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("circuit", no_wrap=True)
    if not compact:
        table.add_column("until", no_wrap=True)
    rows = snapshot.providers
    for name, status in rows.items():
        cells = (_cell(f, getattr(status, f)) for _, f in columns)
        table.add_row(name, *cells, *_circuit(status, snapshot.now, plain, compact=compact))
    if rows:
        # The total's "oldest" is the oldest anywhere, not a sum of ages.
        total = {
            f: (max if f == "oldest_pending_seconds" else sum)(getattr(s, f) for s in rows.values())
            for _, f in columns
        }
        cells = (_cell(f, total[f]) for _, f in columns)
        blank = [""] * (1 if compact else 2)
        table.add_row("total", *cells, *blank, style=None if plain else "bold")
    return table


def status_text(snapshot: Snapshot, *, title: str | None = None) -> str:
    """The plain table as text (for logs, pipes and the dev command's non-terminal output)."""
    return render_text(status_table(snapshot, plain=True, title=title))


def render_text(table: Table) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=PLAIN_WIDTH, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def dead_letters_table(entries: Iterable[Mapping[str, Any]], *, plain: bool = False) -> Table:
    """Time, provider, event name, event id, reason (the provider's words), attempts; e-mail
    addresses and phone numbers masked wherever they appear."""
    table = _table(plain, None, None)
    table.add_column("time", no_wrap=True)
    table.add_column("provider", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("event id", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("attempts", justify="right", no_wrap=True)
    for entry in entries:
        event = entry.get("event")
        name, event_id = ("?", "?")
        if isinstance(event, dict):
            name, event_id = str(event.get("name", "?")), str(event.get("event_id", "?"))
        reason = str(entry.get("reason", ""))
        if entry.get("status"):
            reason = f"[{entry['status']}] {reason}"
        table.add_row(
            _when(entry),
            str(entry.get("provider", "")),
            mask_phones(mask_emails(name)),
            event_id,
            Text(mask_phones(mask_emails(reason))),
            str(entry.get("attempts", "")),
        )
    return table


#: Keys whose values are phone numbers whatever they look like (``79123456789`` alone would
#: pass for an id): a property or context value under such a key is masked as one.
_PHONE_KEY = re.compile(r"phone|mobile|msisdn|^tel$|telephone", re.IGNORECASE)


def masked_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with every e-mail address and phone number masked, wherever it appears (the
    event's properties and context, the provider's reason and answer), as ``dlq list --json``
    and ``show`` print it."""
    text = mask_phones(mask_emails(json.dumps(entry, ensure_ascii=False)))
    return dict(_phone_keys(json.loads(text)))


def _phone_keys(value: Any) -> Any:
    """Values under phone-like keys masked too, at any depth."""
    if isinstance(value, dict):
        return {
            k: _any_phone(v) if _PHONE_KEY.search(str(k)) else _phone_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_phone_keys(v) for v in value]
    return value


def _any_phone(value: Any) -> Any:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        digits = [c for c in str(value) if c.isdigit()]
        return "***" + "".join(digits[-2:]) if len(digits) >= 5 else value
    return _phone_keys(value)


def _cell(field: str, value: float) -> str:
    return _age(value) if field == "oldest_pending_seconds" else str(int(value))


#: The circuit hash's fields ``circuit show`` lists, in order; times are Redis time.
_CIRCUIT_FIELDS = (
    "state",
    "kind",
    "setting",
    "reason",
    "failures",
    "opens",
    "open_until",
    "updated",
)
_CIRCUIT_TIMES = ("open_until", "updated")


def circuit_table(
    state: Mapping[str, str], paused: Mapping[str, Mapping[str, Any]], now: float, *, plain: bool
) -> Table:
    """The breaker's stored fields (times as local clock times, with how far from ``now``,
    Redis time), then one row per paused route: its setting, the provider's words, the
    events it holds and since when."""
    table = _table(plain, None, None)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold", ratio=1)
    for name in (*_CIRCUIT_FIELDS, *sorted(set(state) - set(_CIRCUIT_FIELDS))):
        value = state.get(name)
        if value in (None, ""):
            continue
        table.add_row(name, _moment(value, now) if name in _CIRCUIT_TIMES else str(value))
    for route, pause in paused.items():
        text = f"{pause.get('setting', '')}: {pause.get('reason', '')}"
        if pause.get("status"):
            text = f"{text} [{pause['status']}]"
        held = f"{pause.get('parked', 0)} event(s) parked since {_moment(pause.get('since'), now)}"
        table.add_row(f"paused route {route}", f"{text}; {held}")
    return table


def _moment(value: Any, now: float) -> str:
    """A Redis time as a local clock time with the distance from now ("in 9m14s", "3s ago");
    a pause held until a reset (years away) says so."""
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return str(value)
    if stamp <= 0:
        return "-"
    delta = stamp - now
    if delta > 365 * 86400:
        return "until a reset"
    when = datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")
    span = _span(abs(delta))
    return f"{when} (in {span})" if delta >= 0 else f"{when} ({span} ago)"


def _span(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _when(entry: Mapping[str, Any]) -> str:
    stamp = entry.get("dead_at")
    if not isinstance(stamp, (int, float)):
        stamp = int(str(entry.get("id", "0-0")).partition("-")[0] or 0) / 1000
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _circuit(
    status: ProviderStatus, now: float, plain: bool, *, compact: bool = False
) -> tuple[Text | str, ...]:
    """The state and until when it holds: a clock time (plain: one word, for ``split()``),
    with the time left on a terminal; a narrow terminal gets "open 9m14s" in one cell."""
    until = "-"
    left = ""
    if status.circuit_until is not None:
        left = _age(status.circuit_until - now)
        clock = datetime.fromtimestamp(status.circuit_until).strftime("%H:%M:%S")
        until = clock if plain else f"{clock} ({left})"
    if plain:
        return status.circuit, until
    style = _STYLE.get(status.circuit, "")
    if compact:
        return (Text(f"{status.circuit} {left}".strip(), style=style),)
    return Text(status.circuit, style=style), until


def _caption(snapshot: Snapshot) -> str | None:
    """When beat last ticked, and how many values in Redis could not be read (left out)."""
    parts = []
    if snapshot.last_tick is not None:
        parts.append(f"last tick {_age(max(0.0, snapshot.now - snapshot.last_tick))} ago")
    unreadable = sum(status.unreadable for status in snapshot.providers.values())
    if unreadable:
        parts.append(f"{unreadable} value(s) in Redis are not numbers: left out")
    return "; ".join(parts) or None


def _age(seconds: float) -> str:
    """``-`` for nothing waiting; seconds, then minutes, hours and days."""
    if seconds <= 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"
