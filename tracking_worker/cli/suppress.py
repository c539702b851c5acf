"""``tracking-worker suppress``: add, remove and list people whose events are dropped at the
door (opt-outs). Identifiers are stored hashed; ``list`` shows hashes and counts only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .common import load

if TYPE_CHECKING:
    from ..store.suppression import Change, Suppressions

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _person(func: Callable[..., Any]) -> Callable[..., Any]:
    """The identifiers a person is known by; at least one is needed."""
    options: list[Decorator] = [
        click.option("--telegram-id", type=click.IntRange(min=1), help="Telegram user id."),
        click.option("--email", help="E-mail address (any case; spaces around it trimmed)."),
        click.option("--user-id", help="Your user id, as given to track()."),
        click.option("--visitor-id", help="Visitor id, as given to track()."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _list() -> Suppressions:
    from ..store.suppression import Suppressions

    settings, client = load()
    return Suppressions(client, settings)


def _members(**identifiers: Any) -> list[bytes]:
    """The hashed identifiers, or a usage error (exit 2) when none or a bad one is given."""
    from ..errors import ValidationError
    from ..people import given_members

    try:
        return given_members(identifiers)
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(exc.errors.items()))
        raise click.UsageError(detail) from None


@click.group(short_help="Drop a person's future events (opt-outs).")
def suppress() -> None:
    """The suppression list: every future event of a person on it is dropped by track(),
    atrack(), import and spool drains, in the enqueue's own round trip, and counted as
    `suppressed` in status and metrics. Identifiers are stored hashed, on every provider's
    list; events already queued are not touched (see `forget`)."""


@suppress.command("add", short_help="Suppress a person (idempotent).")
@_person
def add(**identifiers: Any) -> int:
    """Drop this person's future events; each identifier given is matched on its own."""
    members = _members(**identifiers)
    _report(_list().add(members), "suppressed", "already suppressed")
    return 0


@suppress.command("remove", short_help="Take a person off the list (idempotent).")
@_person
def remove(**identifiers: Any) -> int:
    """Enqueue this person's future events again (those dropped meanwhile are gone)."""
    members = _members(**identifiers)
    _report(_list().remove(members), "no longer suppressed", "was not suppressed")
    return 0


@suppress.command("list", short_help="Hashed identifiers and events dropped.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per identifier.")
def list_(as_json: bool) -> int:
    """Each hashed identifier (its kind and hash, never the value), the events of it
    dropped so far (summed over providers) and the provider lists holding it."""
    people = _list()
    found = people.listing()
    if as_json:
        for entry in found:
            click.echo(json.dumps(entry.as_json()))
        return 0
    if not found:
        click.echo("nobody is suppressed")
        return 0
    every = len(people.providers)
    click.echo(f"{'kind':<12} {'hash':<16} {'dropped':>8}  lists")
    for entry in found:
        lists = f"{len(entry.providers)}/{every}"
        click.echo(f"{entry.kind:<12} {entry.hash:<16} {entry.dropped:>8}  {lists}")
    click.echo(f"{len(found)} identifier(s) suppressed")
    return 0


def _report(change: Change, done: str, already: str) -> None:
    """The hashed identifiers, then what changed: on how many provider lists."""
    for member in change.members:
        click.echo(member)
    lists = sum(1 for n in change.changed.values() if n)
    if lists:
        click.echo(f"{done} ({lists} of {len(change.changed)} provider lists changed)")
    else:
        click.echo(already)
