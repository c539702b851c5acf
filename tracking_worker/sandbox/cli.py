"""``python -m tracking_worker.sandbox``: serve the sandbox until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from .server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tracking_worker.sandbox",
        description="Serve local emulations of the tracking providers' APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765, 0 = any)")
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help='JSON file of per-provider overrides, e.g. {"graspil": {"api_key": "k"}}',
    )
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (how supervisors stop children) like Ctrl-C, then restore the old handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _build(args: argparse.Namespace) -> SandboxServer:
    overrides = None
    if args.credentials:
        with open(args.credentials, encoding="utf-8") as file:
            overrides = json.load(file)
    return SandboxServer(args.host, args.port, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox in the foreground; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        server = _build(args)
    except (OSError, ValueError) as exc:
        print(f"sandbox: cannot start: {exc}", file=sys.stderr)
        return 1
    with _sigterm_interrupts():
        try:
            print(f"sandbox listening on {server.url}", flush=True)
            server.serve_forever()
        except KeyboardInterrupt:
            print("sandbox stopped", flush=True)
        finally:
            server.stop()
    return 0
