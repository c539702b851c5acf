"""``tracking-worker forget``: remove one person's events wherever we still hold them, and say
what was removed where."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from .common import load

if TYPE_CHECKING:
    from rich.table import Table

    from ..erasure import ForgetReport

#: (header, field of store.erasure.Removed), in the order an event travels.
PLACES = (
    ("pending", "pending"),
    ("retry", "retry"),
    ("in_flight", "in_flight"),
    ("parked", "parked"),
    ("dead", "dead"),
    ("receipts", "receipts"),
)


@click.command(short_help="Remove one person's events: queues, dead letters, spool.")
@click.option(
    "--telegram-id",
    "telegram_ids",
    type=click.IntRange(min=1),
    multiple=True,
    help="Telegram user id (repeatable).",
)
@click.option("--email", "emails", multiple=True, help="E-mail, any case (repeatable).")
@click.option("--user-id", "user_ids", multiple=True, help="Your user id (repeatable).")
@click.option("--visitor-id", "visitor_ids", multiple=True, help="Visitor id (repeatable).")
@click.option(
    "--suppress",
    "and_suppress",
    is_flag=True,
    help="Also drop their future events at the door (suppress add), before removing.",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def forget(
    telegram_ids: tuple[int, ...],
    emails: tuple[str, ...],
    user_ids: tuple[str, ...],
    visitor_ids: tuple[str, ...],
    and_suppress: bool,
    as_json: bool,
) -> int:
    """Remove every event holding any identifier given from each provider's pending list,
    retry and in-flight batches, parked lists, dead letters and receipts, and from the spool
    and quarantine files of this host. Safe while workers run: none of them is sent after it
    returns. Files on other hosts are not touched (run it there too); events already delivered
    are the providers' (README: "Personal data"). Exit 1 if a worker still held one of them
    when it stopped waiting."""
    from ..erasure import forget_person
    from ..person import Person

    if not (telegram_ids or emails or user_ids or visitor_ids):
        raise click.UsageError(
            "give at least one of --telegram-id, --email, --user-id, --visitor-id"
        )
    person = Person.of(
        telegram_id=telegram_ids, email=emails, user_id=user_ids, visitor_id=visitor_ids
    )
    settings, client = load()
    if and_suppress:  # first: an event tracked while forget runs is dropped at the door
        from ..people import each_members
        from ..store.suppression import Suppressions

        given = {"telegram_id": telegram_ids, "email": emails, "user_id": user_ids}
        members = each_members({**given, "visitor_id": visitor_ids})
        Suppressions(client, settings).add(members)
        click.echo(f"{len(members)} identifier(s) suppressed: their future events are dropped")
    report = forget_person(person, settings, client)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print(report)
    if report.unsettled:
        click.echo(
            f"tracking-worker: {report.unsettled} batch(es) holding these events were still "
            "being sent when forget stopped waiting: run it again",
            err=True,
        )
        return 1
    return 0


def _print(report: ForgetReport) -> None:
    from ..ops.views import make_console, render_text

    console = make_console()
    if console.is_terminal:
        console.print(_table(report, plain=False))
    else:
        click.echo(render_text(_table(report, plain=True)))
    files = report.files
    click.echo(
        f"files on {report.host} ({files.directory}): {files.spool} spool line(s), "
        f"{files.quarantine} quarantine line(s) removed; files on other hosts are not touched"
    )
    click.echo(f"{report.removed} removed in {report.seconds:.2f}s")


def _table(report: ForgetReport, *, plain: bool) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=None if plain else box.SIMPLE_HEAVY, pad_edge=False, show_edge=not plain)
    table.add_column("provider", no_wrap=True)
    for header, _ in PLACES:
        table.add_column(header, justify="right", no_wrap=True)
    for name, removed in report.providers.items():
        table.add_row(name, *(str(getattr(removed, f)) for _, f in PLACES))
    if report.providers:
        total = (sum(getattr(r, f) for r in report.providers.values()) for _, f in PLACES)
        table.add_row("total", *map(str, total), style=None if plain else "bold")
    return table
