"""The ``[redis]`` section: one Redis by URL, a Sentinel-managed master, or a Redis Cluster
(with Celery's broker on a Redis of its own), and how long the web side waits on it. Apart
from settings.py so the section's cross-key checks (sentinels need a master name, a cluster a
broker, and so on) sit with its keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate
from redis.connection import parse_url

from .providers.base import single_token
from .sections import SectionSchema, schema_for, setting

_POSITIVE = validate.Range(min=0, min_inclusive=False)
#: More replicas than this to wait for is a typo (Redis's WAIT takes any number).
MAX_WAIT_REPLICAS = 16


def _redis_url(value: str) -> None:
    """What redis-py or Celery's broker would refuse when the first client connects
    (``localhost:6379`` without a scheme, a bad port or db; unix:// too, which redis-py takes
    but Celery's Redis transport does not), refused at start-up with the key named."""
    single_token(value)
    if not value.startswith(("redis://", "rediss://")):
        raise ma.ValidationError(
            "Must start with redis:// or rediss:// (for Sentinel, set redis.sentinels and "
            "redis.master_name)."
        )
    try:
        parse_url(value)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    except ValueError as exc:
        raise ma.ValidationError(str(exc)) from None


def sentinel_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:26379`` for an IPv6 address) as redis-py's Sentinel takes it."""
    return _address(value, "a sentinel's port is often 26379")


def node_address(value: str) -> tuple[str, int]:
    """A cluster node's ``host:port`` (``[::1]:7000`` for an IPv6 address)."""
    return _address(value, "a cluster node's, e.g. 10.0.0.1:6379")


#: What a host name or an IP address (an IPv6 one's zone too: ``fe80::1%eth0``) is made of: a
#: URL given where ``host:port`` belongs (``redis://10.0.0.2:7000``) would otherwise split
#: into the "host" ``redis://10.0.0.2``, accepted here and failing only at the first connect.
_HOST = re.compile(r"[A-Za-z0-9._:%-]+")


def _address(value: str, hint: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise ma.ValidationError(f"Not host:port: {value!r} ({hint}).")
    return host, int(port)


def _broker_url(value: str) -> None:
    """Empty (the default: not set), or a Redis URL Celery's broker takes."""
    if value:
        _redis_url(value)


def url_address(url: str) -> tuple[str, int]:
    """The host and port a redis:// or rediss:// URL points at (6379 when it names none)."""
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or 6379


def _token_or_empty(value: str) -> None:
    """Empty (the default: not set), or a single token (see ``single_token``)."""
    if value:
        single_token(value)


class _Flag(fields.Boolean):
    """true or false as TOML writes them: ``"yes"`` or ``1`` where a flag belongs is a typo."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ma.ValidationError("Must be true or false.")
        return value


class _Addresses(fields.Field[tuple[str, ...]]):
    """A list of ``host:port``, kept as a tuple."""

    def __init__(self, address: Callable[[str], tuple[str, int]]) -> None:
        super().__init__()
        self._list = fields.List(fields.String(validate=[single_token, address]))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return tuple(self._list.deserialize(value))


@dataclass(frozen=True)
class RedisSettings:
    #: One Redis; with ``sentinels``, only its scheme (``rediss://``: TLS to the master),
    #: credentials, database and TLS options count: the sentinels name the master's address.
    url: str = setting("redis://localhost:6379/0", fields.String(validate=_redis_url))
    #: Bounds how long track() may wait on Redis, retries after a failover included, before
    #: spooling (or raising).
    socket_timeout: float = setting(0.5, fields.Float(allow_nan=False, validate=_POSITIVE))
    key_prefix: str = setting("tw", fields.String(validate=validate.Length(min=1)))
    #: Sentinels to ask for the master of ``master_name``; empty: ``url`` is the Redis.
    sentinels: tuple[str, ...] = setting((), _Addresses(sentinel_address))
    master_name: str = setting("", fields.String(validate=_token_or_empty))
    #: The sentinels' own ACL user and password (``requirepass`` in sentinel.conf), and TLS
    #: to them (the master's come from ``url``).
    sentinel_username: str = setting("", fields.String(validate=_token_or_empty))
    sentinel_password: str = setting("", fields.String(validate=_token_or_empty))
    sentinel_ssl: bool = setting(False, _Flag())
    #: Replicas that must hold an enqueue before track() returns (Redis WAIT): 0 never waits.
    wait_replicas: int = setting(
        0, fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_WAIT_REPLICAS))
    )
    #: The event store is a Redis Cluster: ``url`` names one of its nodes (and the
    #: credentials and TLS of all), ``cluster_nodes`` more to discover it from.
    cluster: bool = setting(False, _Flag())
    cluster_nodes: tuple[str, ...] = setting((), _Addresses(node_address))
    #: Celery's broker with ``cluster``: a Redis that is no cluster node (kombu cannot use a
    #: cluster). Empty: not set.
    broker_url: str = setting("", fields.String(validate=_broker_url))

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [sentinel_address(item) for item in self.sentinels]

    @property
    def cluster_addresses(self) -> list[tuple[str, int]]:
        """The cluster's startup nodes: ``url``'s, then ``cluster_nodes``."""
        return [url_address(self.url), *(node_address(n) for n in self.cluster_nodes)]

    @property
    def password(self) -> str:
        """The master's password (in ``url``), for redacting logs."""
        return urlsplit(self.url).password or ""

    @property
    def broker_password(self) -> str:
        """The broker's own password (in ``broker_url``), for redacting logs."""
        return urlsplit(self.broker_url).password or ""


class _RedisSchema(SectionSchema):
    """Keys that only make sense together."""

    @ma.validates_schema
    def _together(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("sentinels") and not data.get("master_name"):
            raise ma.ValidationError(
                "Required when redis.sentinels is set: the name the sentinels monitor the "
                "master by (sentinel monitor <name> ...).",
                "master_name",
            )
        if data.get("master_name") and not data.get("sentinels"):
            raise ma.ValidationError(
                "Required when redis.master_name is set: the sentinels' host:port.", "sentinels"
            )
        for key in ("sentinel_username", "sentinel_password", "sentinel_ssl"):
            if data.get(key) and not data.get("sentinels"):
                raise ma.ValidationError("Only used with redis.sentinels, which is not set.", key)
        if data.get("cluster"):
            _cluster_keys(data)
        else:
            for key in ("cluster_nodes", "broker_url"):
                if data.get(key):
                    raise ma.ValidationError("Only used with redis.cluster, which is off.", key)


def _cluster_keys(data: dict[str, Any]) -> None:
    """What a Redis Cluster needs, and what it cannot take, each refused naming the key."""
    if data.get("sentinels"):
        raise ma.ValidationError(
            "redis.cluster and redis.sentinels cannot be used together: a cluster's nodes fail "
            "over by themselves; set one or the other.",
            "cluster",
        )
    broker = data.get("broker_url")
    if not broker:
        raise ma.ValidationError(
            "Required when redis.cluster is on: Celery's broker, a Redis that is no cluster "
            "node (kombu cannot use a cluster), e.g. redis://broker-host:6379/0.",
            "broker_url",
        )
    url = data.get("url", RedisSettings.url)
    if (parse_url(url).get("db") or 0) != 0:  # type: ignore[no-untyped-call]
        raise ma.ValidationError("A Redis Cluster has database 0 only: end the URL with /0.", "url")
    nodes = {url_address(url), *(node_address(n) for n in data.get("cluster_nodes", ()))}
    if url_address(broker) in nodes:
        raise ma.ValidationError(
            "Names a node of the cluster (redis.url or redis.cluster_nodes): Celery's broker "
            "needs a Redis of its own.",
            "broker_url",
        )
    if data.get("wait_replicas"):
        raise ma.ValidationError(
            "Not offered with redis.cluster: each node's replicas would be waited for apart; "
            "set 0.",
            "wait_replicas",
        )


RedisSchema = schema_for(RedisSettings, _RedisSchema)
