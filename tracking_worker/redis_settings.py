"""The ``[redis]`` section: one Redis by URL, or a Sentinel-managed master, and how long the
web side waits on it. Apart from settings.py so the section's cross-key checks (sentinels
need a master name, and so on) sit with its keys."""

from __future__ import annotations

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
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ma.ValidationError(f"Not host:port: {value!r} (a sentinel's port is often 26379).")
    return host, int(port)


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


class _Sentinels(fields.Field[tuple[str, ...]]):
    """A list of ``host:port``, kept as a tuple."""

    _list = fields.List(fields.String(validate=[single_token, sentinel_address]))

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
    sentinels: tuple[str, ...] = setting((), _Sentinels())
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

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [sentinel_address(item) for item in self.sentinels]

    @property
    def password(self) -> str:
        """The master's password (in ``url``), for redacting logs."""
        return urlsplit(self.url).password or ""


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


RedisSchema = schema_for(RedisSettings, _RedisSchema)
