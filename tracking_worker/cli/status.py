"""``tracking-worker status``: one row per provider, once or refreshed in place."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .common import Positive, load, sigterm_interrupts

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store.connection import Client
    from ..store.status import Snapshot


@click.command(short_help="Backlog, outcomes and circuit of every provider.")
@click.option("--json", "as_json", is_flag=True, help="JSON keyed by provider (metric names).")
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option(
    "--interval",
    type=Positive(float),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
def status(as_json: bool, watch: bool, interval: float) -> int:
    """Per provider: pending, in flight, retry scheduled, delivered, dead, the age of the
    oldest pending event, retried / rejected / expired / skipped / dropped / lost totals, and
    the circuit breaker with until when it stays open.

    Sizes are read in one Redis round trip, whatever the backlog; ages use Redis's clock.
    With --watch --json, one JSON object per line per refresh.
    """
    from ..ops.views import make_console, status_table, status_text
    from ..store.status import collect

    settings, client = load()
    if not watch:
        snapshot = collect(settings, client)
        if as_json:
            click.echo(json.dumps(snapshot.as_json(), indent=2))
        else:
            console = make_console()
            if console.is_terminal:
                console.print(status_table(snapshot, console=console))
            else:  # plain columns, no trailing blanks, for scripts
                click.echo(status_text(snapshot))
        return 0
    sigterm_interrupts()
    try:
        if as_json:
            while True:
                got = _collect(settings, client)
                shown = got.as_json() if not isinstance(got, str) else {"error": got}
                click.echo(json.dumps(shown))
                time.sleep(interval)
        _watch(settings, client, interval)
    except KeyboardInterrupt:
        pass
    return 0


def _collect(settings: Settings, client: Client) -> Snapshot | str:
    """A snapshot, or what kept it from being read: a watch shows the error and tries again
    at the next refresh (Redis restarting, failing over) instead of ending."""
    from ..errors import StoreError
    from ..store.status import collect

    try:
        return collect(settings, client)
    except StoreError as exc:
        return str(exc)


def _watch(settings: Settings, client: Client, interval: float) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from ..ops.views import make_console, status_table, status_text

    console = make_console()

    def title() -> str:
        return f"tracking-worker status  {datetime.now():%H:%M:%S}  (Ctrl-C stops)"

    if not console.is_terminal:  # a log file: a plain table per refresh
        while True:
            got = _collect(settings, client)
            if isinstance(got, str):
                console.print(f"{title()}\n{got} (retrying every {interval:g}s)\n")
            else:
                console.print(status_text(got, title=title()) + "\n")
            time.sleep(interval)
    last: Snapshot | None = None
    with Live(console=console, auto_refresh=False) as live:
        while True:
            got = _collect(settings, client)
            if isinstance(got, str):  # the last table read, under the error, dimmed
                error = Text(f"{title()}\n{got} (retrying every {interval:g}s)", style="bold red")
                stale = [status_table(last, console=console)] if last is not None else []
                live.update(Group(error, *stale), refresh=True)
            else:
                last = got
                live.update(status_table(got, title=title(), console=console), refresh=True)
            time.sleep(interval)
