"""What every command shares: number types checked by the parser (a bad value is a usage
error, exit 2, before anything runs), and the settings and Redis client a command works on."""

from __future__ import annotations

import math
import re
import signal
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..settings import Settings
    from ..store.connection import Client

    # click 8.2+ makes ParamType generic; older versions are not subscriptable at run time.
    ParamBase: TypeAlias = click.ParamType[Any, Any]
else:
    ParamBase = click.ParamType


class Positive(ParamBase):
    """A finite number above zero (``nan``, ``inf``, ``0`` and ``-1`` are usage errors)."""

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"not a number: {value!r}", param, ctx)
        if not 0 < number < math.inf:
            self.fail(f"must be above 0: {value!r}", param, ctx)
        return number


class Finite(ParamBase):
    """Any finite number (an amount may be negative, a refund; never ``nan``)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"not a number: {value!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"must be a finite number: {value!r}", param, ctx)
        return number


class KeyValue(ParamBase):
    """``key=value``; the value is read as JSON when it parses (``3``, ``true``, ``[1]``),
    else kept as text, so ``plan=pro`` needs no quotes."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        if not sep or not key:
            self.fail(f"expected key=value, got {value!r}", param, ctx)
        import json

        try:
            return key, json.loads(text)
        except ValueError:
            return key, text


@dataclass(frozen=True)
class Since:
    """A moment, absolute (unix seconds) or relative (seconds before now, Redis time)."""

    at: float | None = None
    ago: float | None = None

    def ms(self, client: Client) -> int:
        """Stream ids are Redis time in ms, so "1h" means an hour of Redis's clock."""
        if self.at is not None:
            return max(0, int(self.at * 1000))
        from ..store.connection import converted

        with converted("reading Redis time"):
            seconds, micros = client.time()
        return max(0, int((seconds + micros / 1e6 - (self.ago or 0.0)) * 1000))


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SinceType(ParamBase):
    """``30m``, ``2h``, ``7d`` ago; an ISO 8601 time (``2024-08-03T20:00:00+02:00``, local
    time without an offset); or unix seconds."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Since):
            return value
        text = str(value).strip()
        match = _AGO.match(text)
        if match:
            return Since(ago=float(match.group(1)) * _UNITS[match.group(2)])
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number) and number >= 0:
                return Since(at=number)
            self.fail(f"not a time: {value!r}", param, ctx)
        try:
            return Since(at=datetime.fromisoformat(text).timestamp())
        except ValueError:
            self.fail(f"not a time (30m, 2h, 7d, ISO 8601 or unix seconds): {value!r}", param, ctx)


PORT = click.IntRange(0, 65535)


#: Seconds a command waits on Redis (to connect, and for each reply) unless --timeout says:
#: a hung Redis costs a few seconds and one line, not the worker client's 30 s.
DEFAULT_TIMEOUT = 5.0
_TIMEOUT = "tracking_worker.timeout"


def timeout_option() -> click.Option:
    """``--timeout``, for every command that talks to Redis (added to each in cli/__init__)."""

    def remember(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
        if value is not None:
            ctx.meta[_TIMEOUT] = value  # meta is shared by the whole command line's contexts

    return click.Option(
        ["--timeout"],
        type=Positive(float),
        expose_value=False,
        is_eager=True,
        callback=remember,
        help=f"Seconds to wait on Redis for a connection or reply [default: {DEFAULT_TIMEOUT:g}].",
    )


def given_timeout() -> float | None:
    """The --timeout of the command running, if one was given."""
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_TIMEOUT) if ctx is not None else None
    return float(found) if found is not None else None


def load(*, raise_unavailable: bool = False) -> tuple[Settings, Client]:
    """The settings from the environment and a Redis client that waits --timeout (a few
    seconds) per reply. ``raise_unavailable``: the settings refuse to spool, for commands that
    enqueue (an operator must hear that Redis is down); with --timeout, enqueueing waits that
    long too instead of ``redis.socket_timeout``."""
    from ..settings import load_settings
    from ..store.connection import worker_client

    settings = enqueue_settings(load_settings())
    if raise_unavailable:
        producer = replace(settings.producer, on_unavailable="raise")
        settings = replace(settings, producer=producer)
    return settings, worker_client(settings, timeout=given_timeout() or DEFAULT_TIMEOUT)


def enqueue_settings(settings: Settings) -> Settings:
    """``settings`` whose enqueues (send, import, spool drain) wait --timeout when given,
    instead of ``redis.socket_timeout``."""
    timeout = given_timeout()
    if timeout is None:
        return settings
    return replace(settings, redis=replace(settings.redis, socket_timeout=timeout))


def providers_of(settings: Settings, names: tuple[str, ...]) -> list[str]:
    """The providers a command applies to: those named (each must be configured), or all."""
    from ..errors import ConfigurationError

    configured = list(settings.providers)
    for name in names:
        if name not in configured:
            known = ", ".join(configured) or "none"
            raise ConfigurationError(f"provider {name!r} is not configured ({known})")
    return list(dict.fromkeys(names)) or configured


def sigterm_interrupts() -> None:
    """SIGTERM (how supervisors stop a process) ends a long-running command as Ctrl-C does."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


#: The exit code of a command stopped by Ctrl-C (the shell's 128 + SIGINT).
INTERRUPTED = 130


class StopRequest:
    """While entered, Ctrl-C (and SIGTERM) ask a bulk command to stop at its next step rather
    than mid-call, so it can say what it did: the first sets the request (``self()`` is then
    true) and ends ``wait`` at once; a second Ctrl-C interrupts as usual."""

    def __init__(self) -> None:
        self._asked = threading.Event()
        self._before: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self._asked.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a stop is asked meanwhile (a pacer's sleep)."""
        self._asked.wait(seconds)

    def _ask(self, signum: int, frame: FrameType | None) -> None:
        if self._asked.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._asked.set()

    def __enter__(self) -> StopRequest:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._before[signum] = signal.signal(signum, self._ask)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._before.items():
            signal.signal(signum, handler)
