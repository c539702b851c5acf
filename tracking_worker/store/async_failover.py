"""``failover.py``'s connections for redis.asyncio (``atrack()``): a reply saying the node is not
a writable master drops the connection and raises ``NotRun``, so the next connect resolves
the master again. Apart from failover.py so a sync web process never imports asyncio's
client."""

from __future__ import annotations

from typing import Any

import redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.sentinel import SentinelManagedConnection

from .failover import NotRun, not_master


class _DropsOnFailover:
    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (redis.ResponseError, redis.ConnectionError) as exc:
            if not (not_master(exc) or not_master(exc.__context__ or exc)):
                raise
            await self.disconnect()  # type: ignore[attr-defined]
            raise NotRun(f"{exc} (not a writable master: reconnecting)") from None


class AsyncFailoverConnection(_DropsOnFailover, Connection):
    pass


class AsyncFailoverSSLConnection(_DropsOnFailover, SSLConnection):
    pass


class AsyncFailoverSentinelConnection(_DropsOnFailover, SentinelManagedConnection):
    pass


class AsyncFailoverSentinelSSLConnection(
    _DropsOnFailover, SentinelManagedConnection, SSLConnection
):
    pass
