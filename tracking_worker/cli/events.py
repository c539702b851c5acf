"""``tracking-worker send`` and ``import``: events from a shell, one or a file of them.

Both refuse to spool: an operator at a shell must hear that Redis is down, not find the
events later in a spool folder on whatever machine they typed on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import PartlyEnqueued
from ..event_fields import DECLARED
from .common import INTERRUPTED, Finite, KeyValue, Positive, StopRequest, load

if TYPE_CHECKING:
    from ..ops.importer import Imported, Validated
    from ..producer.tracker import Tracker


def _declared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """An argument or option per declared field (``event_fields.DECLARED``), in its order."""
    types = {"int": int, "number": Finite(), "text": str, "key=value": KeyValue()}
    for declared in reversed(DECLARED):  # decorators apply bottom-up
        if declared.field.required:
            command = click.argument(declared.name, type=types[declared.parse])(command)
            continue
        flag = declared.each or declared.name.replace("_", "-")
        command = click.option(
            f"--{flag}",
            declared.name,
            type=types[declared.parse],
            multiple=declared.each is not None,
            help=declared.help,
        )(command)
    return command


def _event(given: dict[str, Any]) -> dict[str, Any]:
    """What the options gave, as track() takes it (a repeatable option: its list or dict)."""
    event: dict[str, Any] = {}
    for declared in DECLARED:
        value = given[declared.name]
        if value is None or value == ():
            continue
        if declared.each is not None:
            value = dict(value) if declared.parse == "key=value" else list(value)
        event[declared.name] = value
    return event


@click.command(short_help="Enqueue one event (prints its event id).")
@_declared_options
@click.option("--json", "as_json", is_flag=True, help='{"event_id": ...}; a partial enqueue too.')
def send(as_json: bool, **given: Any) -> int:
    """Validate and enqueue the event NAME as track() does, e.g.
    `send purchase --telegram-id 5 --value 9.99 --currency usd --property plan=pro`.
    A value after `=` is read as JSON when it parses (3, true), else as text.
    When some providers took it and others failed, says which, and how to retry: the same
    command with `--event-id` adds it only where it is missing (with --json: the object
    names both lists, exit 1)."""
    import json

    from ..producer.tracker import Tracker

    settings, _ = load(raise_unavailable=True)
    event = _event(given)
    tracker = Tracker(settings)
    try:
        event_id = tracker.track(event.pop("name"), **event)
    except PartlyEnqueued as exc:
        if as_json:
            part = {"event_id": exc.event_ids[0], "enqueued": exc.enqueued, "failed": exc.failed}
            click.echo(json.dumps({**part, "error": str(exc)}))
            return 1
        click.echo(exc.event_ids[0])
        raise PartlyEnqueued(
            f"{exc}. Run the same command again with --event-id {exc.event_ids[0]}: the "
            "providers that have the event will not get it twice",
            enqueued=exc.enqueued,
            failed=exc.failed,
            event_ids=exc.event_ids,
        ) from None
    finally:
        tracker.close()
    click.echo(json.dumps({"event_id": event_id}) if as_json else event_id)
    return 0


@click.command("import", short_help="Backfill events from a JSON Lines file.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rate", type=Positive(float), help="At most this many events per second.")
@click.option("--skip-invalid", is_flag=True, help="Enqueue the valid lines even if some are not.")
@click.option(
    "--jobs",
    type=Positive(int),
    help="Processes validating in parallel (default: one per core).",
)
def import_events(file: Path, rate: float | None, skip_invalid: bool, jobs: int | None) -> int:
    """One JSON object per line with the keys track() takes (a UTF-8 byte order mark is
    fine). Every line is validated first; bad lines are reported with their line number and
    fields, and nothing of a file with errors is enqueued unless --skip-invalid (which fails
    when no line is valid).

    Resumable: a line without an event_id gets "import:<hash of the file's bytes>:<line
    number>", so running the same file again (after Ctrl-C, a kill, Redis going away)
    enqueues only what is missing, within dedupe_ttl (24 h by default). An edited file is a
    new file: all its ids change. The summary counts events: "already present" when every
    provider the event goes to had it, "enqueued" when some provider took it. Ctrl-C (or
    SIGTERM) stops between chunks, prints how far it got, exit 130."""
    from ..producer.tracker import Tracker

    settings, _ = load(raise_unavailable=True)
    tracker = Tracker(settings)
    started = time.perf_counter()
    try:
        with StopRequest() as stop:
            outcome = _import(tracker, file, rate, skip_invalid, jobs, stop)
    finally:
        tracker.close()
    if isinstance(outcome, int):
        return outcome
    validated, done = outcome
    if done.stopped:
        return _stopped(done)
    elapsed = time.perf_counter() - started
    handled = done.enqueued + done.present + done.suppressed
    dropped = f"{done.suppressed} of suppressed people dropped, " if done.suppressed else ""
    click.echo(
        f"{done.enqueued} event(s) enqueued, {done.present} already present, {dropped}"
        f"{len(validated.errors)} invalid line(s) skipped, from {file} in {elapsed:.1f}s "
        f"({handled / max(elapsed, 1e-9):.0f}/s)"
    )
    if validated.errors:
        _report(validated.errors)
    if done.spooled:
        click.echo(
            f"tracking-worker: {done.spooled} event(s) could not be enqueued for some provider "
            f"and were spooled to {tracker.spool.directory} (`tracking-worker spool drain`)",
            err=True,
        )
        return 1
    return 0


def _import(
    tracker: Tracker,
    file: Path,
    rate: float | None,
    skip_invalid: bool,
    jobs: int | None,
    stop: StopRequest,
) -> tuple[Validated, Imported] | int:
    """Validate, then enqueue, under a progress bar; an exit code when it ends before."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from ..ops import importer
    from ..ops.views import make_console

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    console = make_console(stderr=True)
    # A bar on a terminal only: into a log file it would be a line of noise per refresh.
    progress = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    total = importer.count_lines(file) if console.is_terminal else None
    with progress:
        checking = progress.add_task("validating", total=total)
        validated = importer.validate(
            tracker, file, lambda n: progress.advance(checking, n), workers=jobs, stop=stop
        )
        if validated is None:
            progress.stop()
            click.echo(
                "tracking-worker: import stopped while validating; nothing enqueued", err=True
            )
            return INTERRUPTED
        if validated.errors and (not skip_invalid or not validated.events):
            progress.stop()
            return _refuse(validated.errors, file, skip_invalid)
        sending = progress.add_task("enqueuing", total=len(validated.events))
        done = importer.enqueue(
            tracker,
            validated,
            rate=rate,
            progress=lambda n: progress.advance(sending, n),
            stop=stop,
            sleep=stop.wait,
        )
    return validated, done


def _stopped(done: Imported) -> int:
    click.echo(
        f"{done.enqueued} event(s) enqueued ({done.present} already present) from lines "
        f"1-{done.last_line}; run the same command again to continue"
    )
    return INTERRUPTED


def _refuse(errors: list[Any], file: Path, skip_invalid: bool) -> int:
    _report(errors)
    hint = "no line is valid" if skip_invalid else "fix them, or --skip-invalid imports the rest"
    click.echo(
        f"tracking-worker: {len(errors)} invalid line(s) in {file}; nothing enqueued ({hint})",
        err=True,
    )
    return 1


def _report(errors: list[Any]) -> None:
    from ..ops.importer import SHOWN_ERRORS

    for error in errors[:SHOWN_ERRORS]:
        click.echo(f"tracking-worker: {error}", err=True)
    if len(errors) > SHOWN_ERRORS:
        click.echo(f"tracking-worker: ... and {len(errors) - SHOWN_ERRORS} more", err=True)
    sys.stderr.flush()
