"""The ``tracking-worker`` command: run, inspect and repair a deployment."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .errors import TrackingError

if TYPE_CHECKING:
    import redis

    from .settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # What the library logs while a command runs (a spooled part failing again, a lost batch)
    # reads as the command's own lines, never as a bare traceback.
    logging.basicConfig(level=logging.WARNING, format="tracking-worker: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except TrackingError as exc:
        print(f"tracking-worker: {exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracking-worker", description=__doc__)
    sub = parser.add_subparsers(title="commands")

    dev = sub.add_parser("dev", help="run redis, the sandbox, a worker and beat locally")
    dev.add_argument("--demo", action="store_true", help="also send a stream of demo events")
    dev.add_argument("--duration", type=_positive(float), help="exit after this many seconds")
    dev.add_argument("--rate", type=_positive(float), default=20.0, help="demo events per second")
    dev.add_argument("--home", default=".tracking", help="data and logs folder")
    dev.set_defaults(func=_dev)

    sandbox = sub.add_parser("sandbox", help="serve the providers' emulated APIs")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=_port, default=8765, help="0 picks a free port")
    sandbox.set_defaults(func=_sandbox)

    status = sub.add_parser("status", help="per-provider counts and circuit state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    check = sub.add_parser("check", help="validate the configuration and reach Redis")
    check.set_defaults(func=_check)

    dead = sub.add_parser("dead", help="list or replay dead letters")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("provider")
    dead.add_argument("--limit", type=_positive(int), default=20)
    dead.set_defaults(func=_dead)

    circuit = sub.add_parser("circuit", help="show or reset a provider's circuit breaker")
    circuit.add_argument("action", choices=["show", "reset"])
    circuit.add_argument("provider")
    circuit.set_defaults(func=_circuit)

    spool = sub.add_parser("spool", help="events spooled while Redis was unreachable")
    spool.add_argument("action", choices=["drain", "count"])
    spool.set_defaults(func=_spool)

    tick = sub.add_parser("tick", help="reap leases and start deliveries once (as beat does)")
    tick.set_defaults(func=_tick)
    return parser


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """A parser type: a finite number above zero, or a usage error naming the value."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return int(text)


def _dev(args: argparse.Namespace) -> int:
    from .devtools.dev import run

    return run(demo=args.demo, duration=args.duration, rate=args.rate, home=args.home)


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox.cli import main as sandbox_main

    return sandbox_main(["--host", args.host, "--port", str(args.port)])


def _client_and_settings() -> tuple[Settings, redis.Redis]:
    from .settings import load_settings
    from .store.connection import worker_client

    settings = load_settings()
    return settings, worker_client(settings)


def _status(args: argparse.Namespace) -> int:
    from .store.status import collect, render

    settings, client = _client_and_settings()
    rows = collect(settings, client)
    print(json.dumps(rows, indent=2) if args.json else render(rows))
    return 0


def _check(args: argparse.Namespace) -> int:
    from .store.connection import converted

    settings, client = _client_and_settings()
    with converted("reaching Redis"):
        client.ping()
    names = ", ".join(settings.providers) or "none"
    print(f"configuration valid; Redis reachable; providers: {names}")
    return 0


def _dead(args: argparse.Namespace) -> int:
    from .store.deadletters import DeadLetters

    settings, client = _client_and_settings()
    letters = DeadLetters(settings, client, args.provider)
    if args.action == "list":
        for entry in letters.list(args.limit):
            print(json.dumps(entry))
        return 0
    moved = letters.replay(args.limit)
    print(f"{moved} dead letter(s) of {args.provider} moved back to pending")
    return 0


def _circuit(args: argparse.Namespace) -> int:
    from .errors import ConfigurationError
    from .keys import Keys
    from .store.circuit import Circuit
    from .store.lua_scripts import Scripts

    settings, client = _client_and_settings()
    if args.provider not in settings.providers:
        raise ConfigurationError(f"provider {args.provider!r} is not configured")
    keys = Keys(args.provider, settings.redis.key_prefix)
    circuit = Circuit(client, Scripts(), keys, settings.delivery)
    if args.action == "reset":
        due = circuit.reset()
        print(f"{args.provider}: circuit closed; {due} retry batch(es) due now")
        return 0
    print(json.dumps(circuit.state()))
    return 0


def _spool(args: argparse.Namespace) -> int:
    from .producer.spool import Spool
    from .producer.tracker import Tracker
    from .settings import load_settings

    settings = load_settings()
    if args.action == "count":
        spool = Spool(settings.producer.spool_dir)
        print(f"{spool.count()} spooled; {spool.quarantined()} line(s) in quarantine")
        return 0
    tracker = Tracker(settings)
    drained = tracker.drain_spool()
    spool = tracker.spool
    left = spool.count()
    print(f"{drained} spooled event(s) enqueued; {left} left in {spool.directory}")
    if spool.quarantined_now:
        print(
            f"tracking-worker: {spool.quarantined_now} unreadable line(s) quarantined in "
            f"{spool.quarantine_dir} ({spool.quarantined()} in all)",
            file=sys.stderr,
        )
    if left:
        print(f"tracking-worker: {left} event(s) still spooled", file=sys.stderr)
    return 0 if left == 0 and not spool.quarantined_now else 1


def _tick(args: argparse.Namespace) -> int:
    from .routing import TICK_TASK
    from .worker.app import create_app

    started = create_app().tasks[TICK_TASK]()
    print(f"deliveries started: {', '.join(started) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
