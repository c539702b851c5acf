"""``tracking-worker dlq``: list, show, replay and purge dead letters.

``dead`` is the same group under its old name, kept for one release; its ``list`` still prints
one JSON object per line by default, as scripts written against it expect.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from .common import INTERRUPTED, Positive, Since, SinceType, StopRequest, load, providers_of

if TYPE_CHECKING:
    from ..store.deadletters import DeadFilter, DeadLetters, ReplayResult

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _filters(limit_default: int | None, limit_help: str) -> Decorator:
    """The options every subcommand takes (and the old positional PROVIDER)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.argument("provider_arg", metavar="[PROVIDER]", required=False),
            click.option(
                "--provider",
                "-p",
                "providers",
                multiple=True,
                help="Only this provider (repeatable).",
            ),
            click.option(
                "--reason", default="", help="Only reasons containing this text (any case)."
            ),
            click.option(
                "--since",
                type=SinceType(),
                help="Only letters since: 30m, 2h, 7d, ISO 8601, unix time.",
            ),
            click.option(
                "--limit",
                type=Positive(int),
                default=limit_default,
                show_default=True,
                help=limit_help,
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


class Scope:
    """The providers and filter a subcommand applies to, over one client."""

    def __init__(
        self, provider_arg: str | None, providers: tuple[str, ...], reason: str, since: Since | None
    ) -> None:
        from ..store.deadletters import DeadFilter

        self.settings, self.client = load()
        names = (*((provider_arg,) if provider_arg else ()), *providers)
        self.names = providers_of(self.settings, names)
        since_ms = since.ms(self.client) if since is not None else None
        self.filter: DeadFilter = DeadFilter(reason=reason, since_ms=since_ms)

    def letters(self) -> Iterator[DeadLetters]:
        from ..store.deadletters import DeadLetters

        for name in self.names:
            yield DeadLetters(self.settings, self.client, name)


def make_group(name: str, *, legacy: bool) -> click.Group:
    short = (
        "Old name of dlq, for one more release."
        if legacy
        else "List, show, replay or purge dead letters."
    )
    help_text = (
        "Old name of `dlq`, kept for one release: the same commands, but `list` prints one "
        "JSON object per line unless --table."
        if legacy
        else "List, show, replay or purge dead letters."
    )

    @click.group(name=name, short_help=short, help=help_text)
    def group() -> None:
        if legacy:
            click.echo("tracking-worker: `dead` is deprecated; use `dlq` (same commands)", err=True)

    @group.command("list", short_help="Dead letters, newest first.")
    @_filters(20, "At most this many.")
    @click.option(
        "--json", "as_json", is_flag=True, default=legacy, help="One JSON object per line."
    )
    @click.option("--table", "as_table", is_flag=True, help="A table (the default of `dlq list`).")
    def list_(
        provider_arg: str | None,
        providers: tuple[str, ...],
        reason: str,
        since: Since | None,
        limit: int,
        as_json: bool,
        as_table: bool,
    ) -> int:
        """Time, provider, event name, event id, the provider's reason and attempts; e-mail
        addresses and phone numbers masked."""
        from ..ops.views import dead_letters_table, make_console, masked_entry, render_text

        scope = Scope(provider_arg, providers, reason, since)
        # One more than shown, to know whether more match.
        found = [e for letters in scope.letters() for e in letters.list(limit + 1, scope.filter)]
        entries = sorted(found, key=_stream_order, reverse=True)[:limit]
        more = _more(scope, len(found), len(entries), filtered=bool(reason or since))
        if as_json and not as_table:
            for entry in entries:
                click.echo(json.dumps(masked_entry(entry), ensure_ascii=False))
            if more:
                click.echo(f"tracking-worker: {more}", err=True)  # stdout stays JSON lines
            return 0
        console = make_console()
        if not entries:
            console.print("no dead letters" + (" match" if reason or since else ""))
            return 0
        if console.is_terminal:
            console.print(dead_letters_table(entries))
        else:
            click.echo(render_text(dead_letters_table(entries, plain=True)))
        if more:
            click.echo(more)
        return 0

    @group.command("show", short_help="One dead letter, whole.")
    @click.argument("key")
    @click.option("--provider", "-p", "providers", multiple=True, help="Look only here.")
    @click.option("--reveal", is_flag=True, help="Do not mask e-mail addresses and phone numbers.")
    def show(key: str, providers: tuple[str, ...], reveal: bool) -> int:
        """Every field of one dead letter, the event decoded, e-mail addresses and phone
        numbers masked (in the properties and context too) unless --reveal. KEY is its event
        id (as `list` shows it) or its stream entry id (`list --json` shows both)."""
        from ..errors import TrackingError
        from ..ops.views import masked_entry

        scope = Scope(None, providers, "", None)
        found = [e for letters in scope.letters() if (e := letters.find(key)) is not None]
        if not found:
            where = ", ".join(scope.names) or "any provider"
            raise TrackingError(f"no dead letter {key!r} in {where}")
        if len(found) > 1:  # one event dead for several providers
            names = ", ".join(e["provider"] for e in found)
            raise TrackingError(f"{key!r} is a dead letter of {names}: choose with --provider")
        shown = found[0] if reveal else masked_entry(found[0])
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0

    @group.command("replay", short_help="Move dead letters back to pending.")
    @_filters(None, "At most this many (default: all that match).")
    @click.option("--dry-run", is_flag=True, help="Only count what would move.")
    @click.option("--rate", type=Positive(float), help="At most this many events per second.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object: counts per provider.")
    def replay(
        provider_arg: str | None,
        providers: tuple[str, ...],
        reason: str,
        since: Since | None,
        limit: int | None,
        dry_run: bool,
        rate: float | None,
        as_json: bool,
    ) -> int:
        """After fixing the cause: oldest first, each with its event id, back to the pending
        list (a fresh queued_at, so max_age counts from now). Each letter stored when the
        replay starts, once: those the provider refuses again meanwhile wait for the next
        replay. Malformed events stay dead. Ctrl-C stops after the current step and prints
        what moved (exit 130); a replay stopped or killed anywhere and run again never queues
        a letter twice."""
        from ..ops.pacing import Pacer

        scope = Scope(provider_arg, providers, reason, since)
        left = limit
        results: dict[str, ReplayResult] = {}
        with StopRequest() as stop:
            for letters in scope.letters():
                pacer = Pacer(rate, sleep=stop.wait)  # each provider's count starts at 0
                results[letters.provider] = done = letters.replay(
                    left,
                    scope.filter,
                    dry_run=dry_run,
                    chunk=pacer.chunk(500),
                    pause=pacer.wait,
                    stop=stop,
                )
                if not as_json:
                    _report(letters.provider, done, dry_run)
                if done.stopped:
                    break
                if left is not None:
                    left -= done.matched
                    if left <= 0:
                        break
        stopped = any(done.stopped for done in results.values())
        if as_json:
            counts = {name: dataclasses.asdict(done) for name, done in results.items()}
            click.echo(json.dumps({"dry_run": dry_run, "stopped": stopped, "providers": counts}))
        elif stopped:
            click.echo("tracking-worker: replay stopped; run it again for the rest", err=True)
        return INTERRUPTED if stopped else 0

    @group.command("purge", short_help="Delete dead letters for good.")
    @_filters(None, "At most this many (default: all that match).")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    def purge(
        provider_arg: str | None,
        providers: tuple[str, ...],
        reason: str,
        since: Since | None,
        limit: int | None,
        yes: bool,
    ) -> int:
        """Asks first (unless --yes): a purged letter cannot be replayed."""
        scope = Scope(provider_arg, providers, reason, since)
        counts: dict[str, int] = {}
        left = limit
        for letters in scope.letters():
            counts[letters.provider] = n = sum(1 for _ in letters.scan(scope.filter, left))
            if left is not None:
                left -= n
                if left <= 0:
                    break
        total = sum(counts.values())
        if not total:
            click.echo("nothing to purge")
            return 0
        detail = ", ".join(f"{name}: {n}" for name, n in counts.items() if n)
        if not yes:
            click.confirm(f"Purge {total} dead letter(s) ({detail}) for good?", abort=True)
        for letters in scope.letters():
            if counts.get(letters.provider):
                purged = letters.purge(counts[letters.provider], scope.filter)
                click.echo(f"{purged} dead letter(s) of {letters.provider} purged")
        return 0

    return group


def _report(provider: str, done: ReplayResult, dry_run: bool) -> None:
    verb = "would move" if dry_run else "moved"
    click.echo(f"{done.moved} dead letter(s) of {provider} {verb} back to pending")
    if done.malformed:
        click.echo(
            f"tracking-worker: {done.malformed} malformed dead letter(s) of "
            f"{provider} stay dead (replaying cannot fix them)",
            err=True,
        )


def _more(scope: Scope, found: int, shown: int, *, filtered: bool) -> str:
    """ "20 of 32 (use --limit)" when the list was cut, "" when all were shown. Unfiltered,
    the total is the streams' lengths (no scan); filtered, counting would read every letter,
    so it says only that more match."""
    if found <= shown:
        return ""
    if filtered:
        return f"{shown} shown; more match (use --limit)"
    total = sum(letters.count() for letters in scope.letters())
    return f"{shown} of {total} (use --limit)"


def _stream_order(entry: dict[str, Any]) -> tuple[int, int]:
    ms, _, seq = str(entry.get("id", "0-0")).partition("-")
    return int(ms or 0), int(seq or 0)


dlq = make_group("dlq", legacy=False)
dead = make_group("dead", legacy=True)

__all__ = ["dead", "dlq", "make_group"]
