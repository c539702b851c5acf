"""A Redis that fails over: the connections that notice, and the retry that rides it out.

When a master is demoted (Sentinel's failover, a managed endpoint switching nodes), a
connection still open to it gets ``READONLY`` (or ``MASTERDOWN``, ``LOADING`` from a node
resyncing) on every write: redis-py raises those as plain reply errors and keeps the
connection, so the client would write to the old node forever. Our connections drop
themselves on such a reply and raise ``NotRun``: the next connect resolves the master again
(a Sentinel asks the sentinels; a plain URL reconnects to whatever its name points at now).

``NotRun`` also stands for a connection that could not be made. Either way the command never
ran, so sending it again is safe; ``retry_not_run`` does, with backoff, within a deadline.
A command whose reply was lost after it was sent (a reset, a timeout) may have run: that
is the caller's to judge (an enqueue is idempotent on its ids; a settle is not retried).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import SentinelManagedConnection

T = TypeVar("T")

#: Replies of a node that is not (or no longer) a writable master, at the start of a reply or
#: inside a script's error text ("@user_script:114: -READONLY You can't write ..."): a
#: replica, a replica without its master (``replica-serve-stale-data no``), a node loading
#: its data after a restart or a resync, a demoted master unblocking its blocked clients, a
#: master cut off from its replicas (``min-replicas-to-write``: it may be about to be demoted).
_NOT_MASTER = re.compile(r"(?:^|-)(?:READONLY|MASTERDOWN|LOADING|UNBLOCKED|NOREPLICAS) ")
#: The same replies as redis-py parses them (its classes drop the code from the message);
#: MasterDownError is redis-py 8's.
_NOT_MASTER_CLASSES: tuple[type[Exception], ...] = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.BusyLoadingError,
    *((redis.exceptions.MasterDownError,) if hasattr(redis.exceptions, "MasterDownError") else ()),
)

#: Retries start this long after a failure and double up to ``MAX_DELAY``.
FIRST_DELAY = 0.02
MAX_DELAY = 0.5


class NotRun(redis.ConnectionError):
    """The command did not run: no connection could be made, or the node answered that it is
    not a writable master (the connection is dropped). Sending it again is safe."""


#: Connection errors that trying again does not cure: a refused password or user, a pool
#: with no connection left to give.
_FINAL = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.MaxConnectionsError,
)


def passing(exc: BaseException) -> bool:
    """Whether a failure to connect or to send may pass (Redis restarting, failing over, a
    connection closed under us), rather than be final (a wrong password)."""
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError)) and not isinstance(
        exc, _FINAL
    )


class NotRunInTime(NotRun, redis.TimeoutError):
    """``NotRun`` because connecting timed out: still a TimeoutError to whoever tells them
    apart."""


def not_run(exc: BaseException, doing: str) -> NotRun:
    """The NotRun to raise for ``exc``, met while ``doing`` (before the command was sent)."""
    kind = NotRunInTime if isinstance(exc, redis.TimeoutError) else NotRun
    return kind(f"{doing}: {exc}")


def not_master(exc: BaseException) -> bool:
    """Whether ``exc`` is a reply saying this node is not a writable master."""
    if isinstance(exc, (NotRun, *_NOT_MASTER_CLASSES)):
        return True
    return isinstance(exc, redis.ResponseError) and _NOT_MASTER.search(str(exc)) is not None


def any_not_master(replies: list[Any]) -> bool:
    """Whether one of a round trip's replies, or of a transaction's (EXEC's list), says the
    node is not a writable master."""
    for reply in replies:
        found = reply if isinstance(reply, list) else [reply]
        if any(isinstance(r, Exception) and not_master(r) for r in found):
            return True
    return False


def delay(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed ones (the exponent is capped, so
    no count overflows)."""
    return min(MAX_DELAY, FIRST_DELAY * 2.0 ** min(max(failures - 1, 0), 16))


def retry_not_run(
    attempt: Callable[[], T], deadline: float, clock: Callable[[], float] = time.monotonic
) -> T:
    """``attempt()`` until it succeeds, retried while it raises ``NotRun`` and the next try
    can start before ``deadline`` (a ``clock`` time); the last failure is raised."""
    failures = 0
    while True:
        try:
            return attempt()
        except NotRun:
            failures += 1
            pause = delay(failures)
            if clock() + pause >= deadline:
                raise
            time.sleep(pause)  # backoff between tries of a command that did not run


class Deadline(Retry):
    """redis-py's retry policy for a client's own commands (and its connects), bounded by
    time, not by count: a command that failed with a connection error (``NotRun`` included)
    is sent again with our backoff until ``seconds`` have passed since it was first tried. A
    timeout waiting for a reply is not retried: the command may have run, and a hung Redis
    would cost every try the whole socket timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(NoBackoff(), 0, supported_errors=(redis.ConnectionError,))
        self.seconds = seconds

    def call_with_retry(
        self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> T:
        """redis-py's signature over its versions: (do, fail[, is_retryable[,
        with_failure_count]]); ``fail`` is told each failure (and its count, if asked)."""
        counted = bool(kwargs.get("with_failure_count", args[1] if len(args) > 1 else False))
        deadline = time.monotonic() + self.seconds
        failures = 0
        while True:
            try:
                return do()
            except redis.ConnectionError as error:
                if not passing(error):
                    raise
                failures += 1
                if counted:
                    fail(error, failures)
                else:
                    fail(error)
                pause = delay(failures)
                if time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)  # backoff between tries, within the deadline


class _DropsOnFailover:
    """What our sync connections add to redis-py's: a reply saying this node is not a
    writable master drops the connection and raises ``NotRun``. ``failover_wait`` (a
    connection keyword, so every connection of a client's pool has it) is how long the
    client's callers retry a command that did not run (``roundtrip.RoundTrip``)."""

    def __init__(self, *args: Any, failover_wait: float = 0.0, **kwargs: Any) -> None:
        self.failover_wait = failover_wait
        super().__init__(*args, **kwargs)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (redis.ResponseError, redis.ConnectionError) as exc:
            # redis-py's Sentinel connection has already turned READONLY into a
            # ConnectionError of its own (its context the reply): the same meaning.
            if not (not_master(exc) or not_master(exc.__context__ or exc)):
                raise
            self.disconnect()  # type: ignore[attr-defined]
            raise NotRun(f"{exc} (not a writable master: reconnecting)") from None


class FailoverConnection(_DropsOnFailover, redis.Connection):
    pass


class FailoverSSLConnection(_DropsOnFailover, redis.SSLConnection):
    pass


class FailoverSentinelConnection(_DropsOnFailover, SentinelManagedConnection):
    pass


class FailoverSentinelSSLConnection(
    _DropsOnFailover, SentinelManagedConnection, redis.SSLConnection
):
    pass


def failover_wait(connection_kwargs: Mapping[str, Any]) -> float:
    """How long callers retry a command that did not run, from a pool's connection keywords
    (0 for a client that is not ours, made by a test or a host app: not retried)."""
    return float(connection_kwargs.get("failover_wait", 0.0))
