"""The event store on a Redis Cluster (``redis.cluster``): its clients, and what the store asks
of its topology.

Every key of a provider carries the hash tag ``{provider}``, so each script touches one slot and
runs on a cluster as it is; what spans providers (an enqueue to all of them, ``status``) is sent
per node, never as one transaction. redis-py's ``RedisCluster`` follows MOVED and ASK replies and
refreshes its map of the slots after a node fails; our own per-node round trips
(``cluster_intake.py``) send what a node redirected through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from redis._parsers.commands import AsyncCommandsParser
from redis.cluster import ClusterNode, RedisCluster

if TYPE_CHECKING:
    import redis.asyncio.cluster as aiocluster

    from ..settings import Settings

T = TypeVar("T")

#: The TIME of the node holding KEYS[1]'s slot, where Redis time is compared with a
#: provider's stored times: TIME itself names no key, so on a cluster it reaches any node
#: (each has its own clock), and cluster pipelines refuse it.
TIME_AT = "return redis.call('TIME')"

#: Keyword arguments a node's connections cannot take: ours (``failover.py``), and redis-py's
#: per-client retry, which a cluster client takes as a whole.
_NODE_ONLY = ("failover_wait", "health_check_interval", "connection_class")


class DeferredCluster(RedisCluster):
    """A ``RedisCluster`` that discovers the cluster at its first command, not when built.

    redis-py's asks the nodes for their slots in its constructor: a web app, a worker or beat
    started while the cluster is away would fail to start, where ``track()`` must spool and a
    worker wait. Until then the instance holds only its options; the first attribute it lacks
    (any command needs several) builds it, under a lock, and a failure to reach the cluster is
    raised there, inside the caller's ``converted``, and tried again at the next command."""

    def __init__(self, **options: Any) -> None:
        self.__dict__["_tw_options"] = options
        self.__dict__["_tw_building"] = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_tw_") or "_tw_options" not in self.__dict__:
            raise AttributeError(name)
        with self.__dict__["_tw_building"]:
            options = self.__dict__.get("_tw_options")
            if options is not None:
                super().__init__(**options)
                del self.__dict__["_tw_options"]
        return object.__getattribute__(self, name)

    def command(self, **kwargs: Any) -> Any:
        """COMMAND (the command table redis-py routes by, asked once as the client is built)
        from the first master that answers, the default node first; that one becomes the
        default node. redis-py asks its default node alone, the first master CLUSTER SLOTS
        names: while that one master was down, a client could not be built at all, and every
        call of a tracker started meanwhile spooled its whole events, the parts of the
        providers on the live masters too (tests/fleet/test_cluster_faults.py). Each master's
        own client is asked, without the cluster client's retries, which would ask the same
        dead node again."""
        return _first_answer(self, lambda node: self.get_redis_connection(node).command(**kwargs))

    @property
    def discovered(self) -> bool:
        """Whether the cluster has been reached (its slots are known)."""
        return "_tw_options" not in self.__dict__

    def close(self) -> None:
        if self.discovered:
            super().close()


def _first_answer(client: Any, ask: Callable[[Any], T]) -> T:
    """``ask(node)`` of each master in turn (``_masters``) until one answers; that one
    becomes the client's default node."""
    failure: Exception | None = None
    for node in _masters(client, client.get_default_node()):
        try:
            answer = ask(node)
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # down: the next one
            failure = exc
            continue
        client.set_default_node(node)
        return answer
    raise failure or redis.ConnectionError("no master of the cluster is known")


def _masters(client: Any, first: Any) -> list[Any]:
    """``first`` (the default node), then the cluster's other masters (sync or async)."""
    others = [node for node in client.get_primaries() if node is not first]
    return [first, *others] if first is not None else others


class _AnyMasterParser(AsyncCommandsParser):
    """redis.asyncio's commands parser, its COMMAND asked of the first master that answers
    (see ``DeferredCluster.command``): the async client's first ``initialize()`` asks its
    default node alone, and failed as a whole while that one master was down."""

    def __init__(self, client: aiocluster.RedisCluster) -> None:
        super().__init__()
        self._tw_client = client

    async def initialize(self, node: Any = None) -> None:
        client = self._tw_client
        failure: Exception | None = None
        for each in _masters(client, node or client.get_default_node()):
            try:
                await super().initialize(each)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                failure = exc
                continue
            client.set_default_node(each)
            return
        raise failure or redis.ConnectionError("no master of the cluster is known")


def cluster_client(settings: Settings, **options: Any) -> DeferredCluster:
    """A cluster client of ``redis.url`` (a node, and the credentials and TLS of all) and
    ``redis.cluster_nodes``, with ``options``' waits; ``retry`` is the whole client's (redis-py
    gives a node's own connections none)."""
    conf = settings.redis
    kept = {key: value for key, value in options.items() if key not in _NODE_ONLY}
    node: Any = ClusterNode  # redis-py leaves it unannotated
    extra = [node(host, port) for host, port in conf.cluster_addresses[1:]]
    return DeferredCluster(url=conf.url, startup_nodes=extra, **kept)


def async_cluster_client(settings: Settings, **options: Any) -> aiocluster.RedisCluster:
    """As ``cluster_client`` for redis.asyncio (``atrack()``): it discovers the cluster at its
    first command by itself."""
    from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    conf = settings.redis
    node: Any = AsyncClusterNode  # redis-py leaves it unannotated
    extra = [node(host, port) for host, port in conf.cluster_addresses[1:]]
    client = AsyncRedisCluster.from_url(conf.url, startup_nodes=extra, **options)
    client.commands_parser = _AnyMasterParser(client)
    return client


def redis_time(answer: Any) -> float:
    """TIME as a script returns it (seconds and microseconds, as text), in seconds."""
    seconds, micros = answer
    return int(seconds) + int(micros) / 1_000_000


def is_cluster(client: Any) -> bool:
    """Whether ``client`` reaches a Redis Cluster (redis-py's sync or async cluster client)."""
    if isinstance(client, RedisCluster):
        return True
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    return isinstance(client, AsyncRedisCluster)


def is_cluster_node(client: redis.Redis) -> bool:
    """Whether the one Redis ``client`` reaches is a node of a cluster: a client that is not a
    cluster client then fails at the first key of another node's. ``CLUSTER INFO`` answers on a
    cluster node only (elsewhere: "cluster support disabled"); an ACL user refused it (an
    optional command, ``acl.OPTIONAL``) is told nothing."""
    try:
        client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    except redis.ResponseError:  # NOPERM included
        return False
    return True


def node_of(client: Any, key: str) -> Any:
    """The master holding ``key``'s slot, as the cluster client (sync or async) last saw."""
    return client.get_node_from_key(key)


def node_clients(client: RedisCluster) -> list[tuple[ClusterNode, redis.Redis]]:
    """Each master of the cluster with a client of its own (commands that must reach every
    node: the ACL probe)."""
    primaries: list[ClusterNode] = client.get_primaries()  # type: ignore[no-untyped-call]
    return [(node, client.get_redis_connection(node)) for node in primaries]
