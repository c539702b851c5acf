"""How the store talks to Redis: clients with bounded waits, and redis-py's errors converted
where they enter (dramatiq's way), so nothing above ``store/`` sees a raw redis exception."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import StoreError, StoreUnavailable
from ..settings import Settings

#: Replies of a Redis that is up but refuses for now: out of memory under ``noeviction``, a
#: replica (or a master being demoted), a script past its time limit, a master gone. redis-py
#: names the first two (LOADING it raises as a ConnectionError); the others, and any of them
#: met inside a script before Redis 7 ("@user_script:19: -READONLY You can't write ..."), arrive
#: as plain ResponseErrors whose message keeps Redis's error code.
_REFUSED = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
_REFUSED_CODE = re.compile(r"(?:^|-)(?:OOM|READONLY|LOADING|BUSY|MASTERDOWN|UNBLOCKED|TRYAGAIN) ")


def refused(exc: redis.RedisError) -> bool:
    """Whether ``exc`` says Redis refuses for now (waiting and retrying gets through), not that
    the command or our data is wrong."""
    return isinstance(exc, _REFUSED) or _REFUSED_CODE.search(str(exc)) is not None


@contextmanager
def converted(what: str) -> Iterator[None]:
    """Run a Redis call; its errors leave as StoreUnavailable (unreachable, timed out, or
    refusing for now: see ``refused``) or StoreError (anything else Redis answered), naming
    ``what`` was attempted."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"{what}: Redis unavailable: {exc}") from None
    except redis.RedisError as exc:
        if refused(exc):
            raise StoreUnavailable(f"{what}: Redis refuses for now: {exc}") from None
        raise StoreError(f"{what} failed: {exc}") from None


def producer_client(settings: Settings) -> redis.Redis:
    """Bounded waits and no silent retries: ``socket_timeout`` is all a web request can lose."""
    timeout = settings.redis.socket_timeout
    return redis.Redis.from_url(
        settings.redis.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def worker_client(settings: Settings, *, timeout: float | None = None) -> redis.Redis:
    """Workers may wait longer on Redis than web requests do. ``timeout``: a command at a
    shell waits this long to connect and for each reply (``--timeout``), not 30 s."""
    return redis.Redis.from_url(
        settings.redis.url,
        socket_timeout=timeout or 30,
        socket_connect_timeout=min(timeout or 5, 5),
        health_check_interval=30,
    )


def as_text(value: Any) -> str:
    """Redis answers bytes; every reader of the store wants text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def eviction_policy(client: redis.Redis) -> str | None:
    """Redis's ``maxmemory-policy``, or None where CONFIG is not allowed (managed Redis)."""
    try:
        answer: dict[Any, Any] = dict(client.config_get("maxmemory-policy"))
    except redis.RedisError:
        return None
    found = {as_text(k): as_text(v) for k, v in answer.items()}
    return found.get("maxmemory-policy")
