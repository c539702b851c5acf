"""How the store talks to Redis: every client we make is built here (the web side's, sync and
async, the workers', the CLI's and the exporter's), of ``redis.url``, of the master the
sentinels name, or of a Redis Cluster (``cluster.py``), with bounded waits; and redis-py's
errors are converted where they enter (dramatiq's way), so nothing above ``store/`` sees a raw
redis exception."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import redis
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..errors import StoreError, StoreUnavailable
from ..settings import Settings
from . import failover
from .cluster import async_cluster_client, cluster_client

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster

    #: What every store function takes: one Redis (or a Sentinel's master), or a cluster.
    Client: TypeAlias = redis.Redis | RedisCluster
    AsyncClient: TypeAlias = aioredis.Redis | AsyncRedisCluster

#: Replies of a Redis that is up but refuses for now: out of memory under ``noeviction``, a
#: replica (or a master being demoted), a script past its time limit, a master gone or cut off
#: from its replicas (NOREPLICAS, under ``min-replicas-to-write``). redis-py
#: names the first two (LOADING it raises as a ConnectionError); the others, and any of them
#: met inside a script before Redis 7 ("@user_script:19: -READONLY You can't write ..."), arrive
#: as plain ResponseErrors whose message keeps Redis's error code.
_REFUSED = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)
_REFUSED_CODE = re.compile(
    r"(?:^|-)(?:OOM|READONLY|LOADING|BUSY|MASTERDOWN|UNBLOCKED|TRYAGAIN|NOREPLICAS) "
)


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
    except redis.exceptions.RedisClusterException as exc:  # not a RedisError in redis-py
        if isinstance(exc, redis.exceptions.SlotNotCoveredError) or "connect" in str(exc):
            raise StoreUnavailable(f"{what}: Redis Cluster unavailable: {exc}") from None
        raise StoreError(f"{what} failed: {exc}") from None


#: How long a worker's (and beat tick's) Redis call retries a command that did not run (the
#: master gone or changing) before the task ends quietly and the next tick starts it again:
#: longer than a Sentinel promotion (``down-after-milliseconds`` plus about two seconds), so a
#: run that was going on keeps its batch, its lease and its run slot across a prompt failover.
WORKER_FAILOVER_WAIT = 10.0
#: A command at a shell retries only what a reconnect cures at once (READONLY from a demoted
#: node behind one address): a Redis that is down says so without keeping the operator.
COMMAND_FAILOVER_WAIT = 0.25


def producer_client(settings: Settings) -> Client:
    """Bounded waits and no silent retries: ``socket_timeout`` is all a web request can lose,
    retries after a failover included (``roundtrip.RoundTrip`` makes them, within it)."""
    timeout = settings.redis.socket_timeout
    return _client(
        settings,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        failover_wait=timeout,
    )


def worker_client(settings: Settings, *, timeout: float | None = None) -> Client:
    """Workers may wait longer on Redis than web requests do, and ride out a failover
    (``WORKER_FAILOVER_WAIT``), plain commands as scripts. ``timeout``: a command at a shell
    waits this long to connect and for each reply (``--timeout``), not 30 s."""
    wait = WORKER_FAILOVER_WAIT if timeout is None else min(timeout, COMMAND_FAILOVER_WAIT)
    return _client(
        settings,
        socket_timeout=timeout or 30,
        socket_connect_timeout=min(timeout or 5, 5),
        health_check_interval=30,
        retry=failover.Deadline(wait),
        failover_wait=wait,
    )


def scrape_client(settings: Settings, timeout: float | None = None) -> Client:
    """Bounded waits: a scrape must answer (``up 0``) before Prometheus' own timeout (its
    default 10 s; ``timeout`` is ``metrics --timeout``, 5 s when not given)."""
    wait = min(timeout or 2, 2)
    return _client(
        settings,
        socket_timeout=timeout or 5,
        socket_connect_timeout=wait,
        retry=failover.Deadline(wait),
        failover_wait=wait,
    )


def _client(settings: Settings, **options: Any) -> Client:
    """A client of ``redis.url``, or of the master the sentinels name, over connections that
    drop themselves when their node stops being a writable master (``failover.py``); or of a
    cluster, whose client follows its nodes' redirections by itself."""
    conf = settings.redis
    if conf.cluster:
        return cluster_client(settings, **options)
    if not conf.sentinels:
        ssl = conf.url.startswith("rediss://")
        kind: type[redis.Connection] = (
            failover.FailoverSSLConnection if ssl else failover.FailoverConnection
        )
        return redis.Redis.from_url(conf.url, connection_class=kind, **options)
    master = master_options(settings)
    kind = (
        failover.FailoverSentinelSSLConnection
        if master.pop("ssl", False)
        else failover.FailoverSentinelConnection
    )
    sentinel = Sentinel(
        conf.sentinel_addresses, sentinel_kwargs=sentinel_options(settings, options)
    )
    client: redis.Redis = sentinel.master_for(
        conf.master_name, connection_class=kind, **master, **options
    )
    return client


def broker_client(settings: Settings, timeout: float) -> redis.Redis:
    """A client of Celery's own Redis (``redis.broker_url``, beside a cluster), for ``check``:
    Celery itself reaches it through kombu (``routing.broker_config``)."""
    return redis.Redis.from_url(
        settings.redis.broker_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def master_options(settings: Settings) -> dict[str, Any]:
    """What ``redis.url`` says of the master when the sentinels name its address: credentials,
    database, TLS (``ssl``: True for rediss://) and TLS options."""
    parsed: dict[str, Any] = parse_url(settings.redis.url)  # type: ignore[no-untyped-call]
    for key in ("host", "port", "path"):
        parsed.pop(key, None)
    if parsed.pop("connection_class", None) is not None:  # redis-py's SSLConnection
        parsed["ssl"] = True
    return parsed


def sentinel_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """How the sentinels themselves are reached: the client's timeouts, their own password
    and user, TLS."""
    conf = settings.redis
    found: dict[str, Any] = {
        key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
    }
    if conf.sentinel_password:
        found["password"] = conf.sentinel_password
    if conf.sentinel_username:
        found["username"] = conf.sentinel_username
    if conf.sentinel_ssl:
        found["ssl"] = True
    return found


def async_producer_client(settings: Settings) -> AsyncClient:
    """As ``producer_client``, for redis.asyncio (``atrack()``). The library version is given
    once: redis-py 8 otherwise reads it from the package metadata on disk for every new
    connection (about a millisecond, on the loop)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.asyncio.sentinel import Sentinel as AsyncSentinel

    from . import async_failover

    conf = settings.redis
    timeout = conf.socket_timeout
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": AsyncRetry(NoBackoff(), 0),
        **_driver_info(),
    }
    if conf.cluster:
        return async_cluster_client(settings, **options)
    if not conf.sentinels:
        ssl = conf.url.startswith("rediss://")
        kind: type[Any] = (
            async_failover.AsyncFailoverSSLConnection
            if ssl
            else async_failover.AsyncFailoverConnection
        )
        return aioredis.Redis.from_url(conf.url, connection_class=kind, **options)
    master = master_options(settings)
    kind = (
        async_failover.AsyncFailoverSentinelSSLConnection
        if master.pop("ssl", False)
        else async_failover.AsyncFailoverSentinelConnection
    )
    sentinel = AsyncSentinel(
        conf.sentinel_addresses, sentinel_kwargs=sentinel_options(settings, options)
    )
    client: aioredis.Redis = sentinel.master_for(
        conf.master_name, connection_class=kind, **master, **options
    )
    return client


def _driver_info() -> dict[str, Any]:
    try:  # redis-py >= 7
        from redis.driver_info import DriverInfo
    except ImportError:  # older ones read the version once, at import
        return {}
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


def as_text(value: Any) -> str:
    """Redis answers bytes; every reader of the store wants text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def eviction_policy(client: Client) -> str | None:
    """Redis's ``maxmemory-policy``, or None where CONFIG is not allowed (managed Redis)."""
    try:
        answer: dict[Any, Any] = dict(client.config_get("maxmemory-policy"))
    except (redis.RedisError, redis.exceptions.RedisClusterException):
        return None
    found = {as_text(k): as_text(v) for k, v in answer.items()}
    return found.get("maxmemory-policy")
