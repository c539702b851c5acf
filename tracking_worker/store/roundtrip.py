"""The web side's one round trip to Redis, as short as the loopback allows.

Besides Redis's own work, two costs dominate a loopback round trip from Python. Taking a
connection from redis-py's pool probes the socket with about five system calls. Waking the
thread that sleeps on the reply costs about 50 µs on a virtual machine, more than the rest of
``track()`` together. So each thread keeps one connection of the client's pool for itself,
probed with a single ``poll(0)`` before use, and polls for the reply a short while
(``producer.reply_spin``) before it sleeps on it. The spin turns itself off while round trips
take longer than it (a remote Redis), where it would only burn CPU, and on a single core, where
it would hold back the Redis it waits for.

The client's timeouts and its error conversions still apply. A connection is dropped after any
error but an error reply, so a half-read reply never reaches a later call, and after a reply
saying its node is no longer a writable master (``failover.py``). A command that did not run
(no connection could be made or kept to send it, or that reply) is sent again, with backoff,
until the connection's ``failover_wait`` has passed (or the caller's deadline): a failover
costs a call that wait, not an error; anything else is raised at once.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from hiredis import pack_command
from redis.connection import Connection, HiredisRespSerializer

from .failover import any_not_master, failover_wait, not_run, passing, retry_not_run

#: One round trip's weight in the running share of those that came back within the spin.
SMOOTHING = 1 / 16


class _Pin:
    """A pool connection one thread keeps, handed back to the pool when the thread ends."""

    __slots__ = ("__weakref__", "conn", "hiredis", "pid", "poller", "sock")

    def __init__(self, conn: Connection, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.sock: Any = None
        self.poller = select.poll()
        #: The connection packs commands with hiredis.pack_command: then a single command is
        #: packed by it directly, without redis-py's per-argument pass that only turns buffers
        #: into bytes (a few µs of track()); our commands' arguments are str, bytes, numbers.
        packer = getattr(conn, "_command_packer", None)
        self.hiredis = isinstance(packer, HiredisRespSerializer)

    def ready(self) -> None:
        """Connected, and not closed by Redis since the last call (an idle timeout, a restart):
        a socket with something to read before anything was sent is reconnected."""
        conn = self.conn
        if conn._sock is not None and conn._sock is self.sock:
            if not self.poller.poll(0):
                return
            conn.disconnect()  # type: ignore[no-untyped-call]
        conn.connect()  # type: ignore[no-untyped-call]
        self.sock = conn._sock
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)


class RoundTrip:
    """Commands over per-thread connections of ``client``'s pool (web threads, and the
    worker's script calls with ``spin=0``)."""

    def __init__(self, client: redis.Redis, spin: float) -> None:
        self.client = client
        #: Seconds to poll for a reply before sleeping on it; 0 never polls.
        self.spin = spin if _usable_cores() >= 2 else 0.0
        #: The share of recent round trips (smoothed) that came back within ``spin``, spun
        #: for or not: the spin runs while most do, so a rare slow reply does not stop it.
        self.within = 1.0
        self._local = threading.local()

    def call(self, *args: Any) -> Any:
        """One command; its reply as read (no response callbacks). An error reply raises
        redis.ResponseError, as redis-py does."""
        replies = self.exchange([args])
        if isinstance(replies[0], redis.ResponseError):
            raise replies[0]
        return replies[0]

    def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """MULTI, ``commands``, EXEC in one write. Each command's reply, an error reply as a
        ResponseError in its place (as ``pipeline.execute(raise_on_error=False)``). A
        transaction Redis refused whole (EXECABORT) raises."""
        return executed(self.exchange([("MULTI",), *commands, ("EXEC",)]), len(commands))

    def exchange(
        self, commands: Sequence[Sequence[Any]], deadline: float | None = None
    ) -> list[Any]:
        """``commands`` in one write, their replies (an error reply as a ResponseError in its
        place). Sent again while they did not run, until ``deadline`` (``time.monotonic``),
        or the connection's ``failover_wait`` from now."""
        if deadline is None:
            deadline = time.monotonic() + self.failover_wait()
        return retry_not_run(lambda: self._exchange(commands, len(commands)), deadline)

    def failover_wait(self) -> float:
        """How long this client's calls retry a command that did not run (its connections'
        ``failover_wait``, read without taking one)."""
        return failover_wait(self.client.connection_pool.connection_kwargs)

    def _exchange(self, commands: Sequence[Sequence[Any]], count: int) -> list[Any]:
        try:
            pin = self._pin()  # a new one connects at once (redis-py 8)
            pin.ready()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not passing(exc):
                raise
            raise not_run(exc, "connecting") from None
        conn = pin.conn
        clock = time.perf_counter
        started = clock()
        sent = False
        try:
            if len(commands) > 1:
                packed = conn.pack_commands(commands)  # type: ignore[no-untyped-call]
            elif pin.hiredis:
                packed = [pack_command(tuple(commands[0]))]
            else:
                packed = conn.pack_command(*commands[0])  # type: ignore[no-untyped-call]
            # The client's health check (a PING after health_check_interval idle), if any.
            conn.send_packed_command(packed, check_health=True)  # type: ignore[no-untyped-call]
            sent = True
            if self.spin and self.within >= 0.5:
                deadline = started + self.spin
                poll = pin.poller.poll
                while not poll(0) and clock() < deadline:
                    pass
            replies = []
            for _ in range(count):
                try:
                    replies.append(conn.read_response())  # type: ignore[no-untyped-call]
                except redis.ResponseError as exc:  # read whole: the connection is still good
                    replies.append(exc)
        except BaseException as exc:
            # A half-sent command or a half-read reply must not reach the next call.
            conn.disconnect()  # type: ignore[no-untyped-call]
            if not sent and passing(exc):
                # Redis never had it whole (the connection was closed under us): not run.
                raise not_run(exc, "sending") from None
            raise
        if self.spin:
            self.within += ((clock() - started <= self.spin) - self.within) * SMOOTHING
        if any_not_master(replies):
            # Said inside a transaction's or a script's reply, which the connection does not
            # read as one: the next call connects again, to the master as resolved then.
            conn.disconnect()  # type: ignore[no-untyped-call]
        return replies

    def _pin(self) -> _Pin:
        pin: _Pin | None = getattr(self._local, "pin", None)
        pid = os.getpid()
        if pin is None or pin.pid != pid:
            # After a fork the parent's socket is not ours to use or close: redis-py's pool
            # resets itself in the child, and the old pin is forgotten.
            pool = self.client.connection_pool
            conn = pool.get_connection()
            pin = _Pin(conn, pid)
            weakref.finalize(pin, pool.release, conn)
            self._local.pin = pin
        return pin


def executed(replies: list[Any], count: int) -> list[Any]:
    """The replies of ``count`` commands between MULTI and EXEC, read from all the replies of
    that exchange (MULTI's first, EXEC's after theirs): each command's own reply, an error one
    in its place. A transaction Redis refused whole (EXECABORT) raises its first error."""
    answer = replies[count + 1]
    if isinstance(answer, redis.ResponseError):
        queued = next(
            (r for r in replies[1 : count + 1] if isinstance(r, redis.ResponseError)), None
        )
        raise queued or answer
    return list(answer)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
