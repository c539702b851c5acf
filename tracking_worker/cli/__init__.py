"""The ``tracking-worker`` command: run, inspect and repair a deployment.

Built on click, like Celery's own CLI. Every command turns a ``TrackingError`` (Redis down, a
wrong password, a key of the wrong type, bad configuration) into one line on stderr and exit 1;
a bad option value is a usage error, exit 2; never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from ..errors import TrackingError
from .admin import check, circuit, dev, metrics, queues, sandbox, spool, tick, trace
from .common import timeout_option
from .dlq import dead, dlq
from .events import import_events, send
from .privacy import forget
from .render import render
from .status import status
from .suppress import suppress

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="tracking-worker", prog_name="tracking-worker")
def cli() -> None:
    """Run, inspect and repair a tracking_worker deployment.

    Settings come from TRACKING_CONFIG (a TOML file) and TRACKING_REDIS_URL, as for the
    workers.
    """


for command in (
    status,
    dlq,
    dead,
    send,
    render,
    import_events,
    trace,
    check,
    circuit,
    spool,
    tick,
    metrics,
    queues,
    forget,
    suppress,
):
    cli.add_command(command)
cli.add_command(sandbox)
cli.add_command(dev)


def _timeout_on(command: click.Command) -> None:
    """Every command that talks to Redis takes --timeout (each subcommand of a group)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _timeout_on(sub)
    else:
        command.params.append(timeout_option())


for command in (
    status,
    dlq,
    dead,
    send,
    import_events,
    trace,
    check,
    circuit,
    tick,
    metrics,
    forget,
    suppress,
):
    _timeout_on(command)
_timeout_on(spool.commands["drain"])  # `spool count` reads files only


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code."""
    # What the library logs while a command runs (a spooled part failing again, a lost batch)
    # reads as the command's own lines, never as a bare traceback.
    logging.basicConfig(level=logging.WARNING, format="tracking-worker: %(message)s")
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="tracking-worker",
            standalone_mode=False,
        )
    except click.ClickException as exc:  # usage errors: exit 2, with click's usage line
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        print("tracking-worker: aborted", file=sys.stderr)
        return 1
    except TrackingError as exc:
        print(f"tracking-worker: {exc}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


__all__ = ["cli", "main"]
