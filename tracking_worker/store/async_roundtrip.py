"""``roundtrip.RoundTrip.exchange`` for redis.asyncio (``atrack()``): commands in one write on
one connection of the client's pool, their replies read back raw, and sent again (with
``failover.py``'s backoff) while they did not run, until a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from .failover import NotRun, any_not_master, delay, not_run, passing

if TYPE_CHECKING:
    import redis.asyncio as aioredis

T = TypeVar("T")


async def retry_not_run(attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
    """``failover.retry_not_run`` awaited: ``deadline`` is a ``time.monotonic`` time."""
    failures = 0
    while True:
        try:
            return await attempt()
        except NotRun:
            failures += 1
            pause = delay(failures)
            if time.monotonic() + pause >= deadline:
                raise
            await asyncio.sleep(pause)


async def exchange(client: aioredis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """``commands`` in one write; their replies, an error reply as a ResponseError in its
    place. A connection that could not be made, or was lost before the commands were sent,
    raises NotRun; any other failure drops the connection and raises."""
    pool = client.connection_pool
    try:
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        if not passing(exc):
            raise
        raise not_run(exc, "connecting") from None
    try:
        return await on_connection(conn, commands)
    finally:
        await pool.release(conn)


async def on_connection(conn: Any, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """``commands`` in one write on ``conn``, their replies read back (see ``exchange``)."""
    sent = False
    try:
        await conn.send_packed_command(conn.pack_commands(commands))
        sent = True
        replies = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except redis.ResponseError as exc:  # read whole: the connection is still good
                replies.append(exc)
    except BaseException as exc:
        # A half-sent command or a half-read reply (a cancelled call) must not reach the next.
        await conn.disconnect(nowait=True)
        if not sent and passing(exc):
            raise not_run(exc, "sending") from None
        raise
    if any_not_master(replies):
        await conn.disconnect()  # the next call connects to the master as resolved then
    return replies
