"""The Redis commands tracking_worker runs, for a Redis ACL user of its own, and the probe
``tracking-worker check`` makes of them.

A managed Redis often gives each application a user limited to the commands it needs. Ours
are below, in two parts: the store's (our Lua scripts, which Redis checks command by command
for the user running them, and the CLI's reads) and the broker's (Celery and kombu on the same
Redis). ``tests/store/test_acl.py`` runs the whole system as a user allowed exactly these and
finds Redis's ACL log empty, and checks that every command a Lua script calls is listed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import ClusterNode, RedisCluster

from .cluster import node_clients, node_of
from .connection import converted

#: Our Lua scripts and our own calls (lower case, ``command|subcommand``).
STORE = (
    "time", "ping", "get", "set", "del", "exists", "expire", "pexpire", "pexpireat",
    "expireat", "ttl", "hset", "hget", "hmget", "hdel", "hincrby", "hlen", "hexists", "hsetnx",
    "hgetall", "hkeys", "hscan", "lpush", "rpush", "llen", "lrange", "lset", "lrem", "lpop",
    "zadd", "zrem", "zrange", "zrangebyscore", "zremrangebyscore", "zcount", "zcard", "zscore",
    "xadd", "xlen", "xdel", "xtrim", "xrange", "xrevrange", "eval", "evalsha", "script|load",
    "multi", "exec", "scan",
)  # fmt: skip

if TYPE_CHECKING:
    from .connection import Client
#: Celery's broker on the same Redis (kombu's redis transport: queues, bindings, pidbox and
#: task events, its binding scripts), and the client name redis-py sets on each connection.
BROKER = (
    "brpop", "sadd", "smembers", "srem", "publish", "subscribe", "psubscribe", "unsubscribe",
    "punsubscribe", "script|exists", "client|setinfo",
)  # fmt: skip
#: Used when allowed, each with what is lost without it: the worker's start-up warning about
#: Redis evicting keys reads the ``maxmemory-policy`` (a managed Redis that refuses CONFIG just
#: gets no warning); ``check`` asks whether a plain ``redis.url`` is a Redis Cluster's node.
OPTIONAL = {
    "config|get": "the worker cannot see Redis's eviction policy (no warning if it may evict "
    "queued events)",
    "cluster|info": "check cannot tell whether redis.url is a node of a Redis Cluster",
}
#: Scratch key names tried per cluster node for one in a slot it holds.
SCRATCH_TRIES = 1000


def acl_setuser(user: str = "tracking") -> str:
    """The ``ACL SETUSER`` line the README shows: these commands, every key and channel (give
    tracking_worker a database or a Redis of its own: its keys are ``tw:*`` and Celery's)."""
    allowed = " ".join(f"+{c}" for c in (*STORE, *BROKER, *OPTIONAL))
    return f"ACL SETUSER {user} on >PASSWORD ~* &* -@all {allowed}"


@dataclass(frozen=True)
class Probe:
    """What the probe found: the commands Redis refused this user (NOPERM), by part."""

    refused: tuple[str, ...]
    optional_refused: tuple[str, ...]


def probe(client: Client, prefix: str) -> Probe:
    """Run each command once, harmlessly, on scratch keys ``<prefix>:{acl-check}:*`` (removed
    after), and collect those refused for lack of permission; any other error means allowed.
    On a Redis Cluster every master is probed (each keeps its own users), on scratch keys of a
    slot it holds, and only the store's commands count there: Celery's broker is
    ``redis.broker_url`` (``probe_broker``). Raises StoreUnavailable when Redis cannot be
    reached."""
    with converted("probing the commands Redis allows"):
        if not isinstance(client, RedisCluster):
            return _parted(_refused(client, f"{prefix}:{{acl-check}}"))
        found = [
            name
            for node, one in node_clients(client)
            for name in _refused(one, _scratch_on(client, node, prefix))
        ]
    return _parted([name for name in dict.fromkeys(found) if name not in BROKER])


def probe_broker(client: redis.Redis, prefix: str) -> Probe:
    """``probe`` of Celery's broker when it is a Redis of its own (``redis.broker_url``): only
    the broker's commands count."""
    with converted("probing the commands the broker's Redis allows"):
        found = _refused(client, f"{prefix}:{{acl-check}}")
    return _parted([name for name in found if name in BROKER])


def _refused(client: redis.Redis, base: str) -> list[str]:
    """The commands one Redis refuses, probed on keys under ``base``."""
    calls = _calls(base)
    pipe = client.pipeline(transaction=False)
    for _, args in calls:
        pipe.execute_command(*args)  # type: ignore[no-untyped-call]
    answers = pipe.execute(raise_on_error=False)
    refused = [name for (name, _), got in zip(calls, answers, strict=True) if _denied(got)]
    refused += [name for name, check in _separately(client, base) if check]
    client.delete(*(f"{base}:{kind}" for kind in "shlzxt"))
    return refused


def _parted(refused: list[str]) -> Probe:
    optional = tuple(name for name in refused if name in OPTIONAL)
    return Probe(tuple(n for n in refused if n not in OPTIONAL), optional)


def _scratch_on(client: RedisCluster, node: ClusterNode, prefix: str) -> str:
    """Scratch keys' base in a slot ``node`` holds: ``{acl-check}``, or ``{acl-check-<n>}``
    for the first n whose slot is the node's (a few tries: slots are spread evenly)."""
    for n in range(SCRATCH_TRIES):
        base = f"{prefix}:{{acl-check{f'-{n}' if n else ''}}}"
        if node_of(client, base).name == node.name:
            return base
    return f"{prefix}:{{acl-check}}"  # a master holding no slot: its keys are elsewhere


def _calls(base: str) -> list[tuple[str, tuple[Any, ...]]]:
    """(command, its arguments) for the pipelined part of the probe."""
    s, h, li, z, x, t = (f"{base}:{kind}" for kind in "shlzxt")
    later_ms, later_s = int(time.time() * 1000) + 60_000, int(time.time()) + 60
    script, sha = "return 1", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    return [
        ("time", ("TIME",)), ("ping", ("PING",)), ("set", ("SET", s, "1", "PX", 60_000)),
        ("get", ("GET", s)), ("exists", ("EXISTS", s)), ("expire", ("EXPIRE", s, 60)),
        ("pexpire", ("PEXPIRE", s, 60_000)), ("pexpireat", ("PEXPIREAT", s, later_ms)),
        ("expireat", ("EXPIREAT", s, later_s)), ("ttl", ("TTL", s)),
        ("hset", ("HSET", h, "f", "1")), ("hget", ("HGET", h, "f")),
        ("hmget", ("HMGET", h, "f")), ("hincrby", ("HINCRBY", h, "n", 1)),
        ("hlen", ("HLEN", h)), ("hexists", ("HEXISTS", h, "f")),
        ("hsetnx", ("HSETNX", h, "g", "1")), ("hgetall", ("HGETALL", h)),
        ("hkeys", ("HKEYS", h)), ("hscan", ("HSCAN", h, 0)),
        ("hdel", ("HDEL", h, "g")), ("lpush", ("LPUSH", li, "1")), ("rpush", ("RPUSH", li, "2")),
        ("llen", ("LLEN", li)), ("lrange", ("LRANGE", li, 0, -1)), ("lset", ("LSET", li, 0, "3")),
        ("lrem", ("LREM", li, 0, "3")), ("lpop", ("LPOP", li)), ("brpop", ("BRPOP", li, 0.01)),
        ("zadd", ("ZADD", z, 1, "a")), ("zrange", ("ZRANGE", z, 0, -1)),
        ("zrangebyscore", ("ZRANGEBYSCORE", z, "-inf", "+inf")),
        ("zcount", ("ZCOUNT", z, "-inf", "+inf")), ("zcard", ("ZCARD", z)),
        ("zscore", ("ZSCORE", z, "a")), ("zrem", ("ZREM", z, "a")),
        ("zremrangebyscore", ("ZREMRANGEBYSCORE", z, "-inf", "-inf")),
        ("xadd", ("XADD", x, "MAXLEN", 10, "*", "f", "v")), ("xlen", ("XLEN", x)),
        ("xrange", ("XRANGE", x, "-", "+")), ("xrevrange", ("XREVRANGE", x, "+", "-")),
        ("xtrim", ("XTRIM", x, "MAXLEN", 10)), ("xdel", ("XDEL", x, "0-1")),
        ("sadd", ("SADD", t, "a")), ("smembers", ("SMEMBERS", t)), ("srem", ("SREM", t, "a")),
        ("eval", ("EVAL", script, 0)), ("script|load", ("SCRIPT", "LOAD", script)),
        ("evalsha", ("EVALSHA", sha, 0)), ("script|exists", ("SCRIPT", "EXISTS", sha)),
        ("scan", ("SCAN", 0, "MATCH", f"{base}*", "COUNT", 10)),
        ("publish", ("PUBLISH", f"{base}:channel", "x")),
        ("client|setinfo", ("CLIENT", "SETINFO", "LIB-NAME", "redis-py")),
        ("config|get", ("CONFIG", "GET", "maxmemory-policy")),
        ("cluster|info", ("CLUSTER", "INFO")),
        ("del", ("DEL", s)),
    ]  # fmt: skip


def _separately(client: redis.Redis, base: str) -> list[tuple[str, bool]]:
    """A transaction, and the pub/sub commands (each needs a connection of its own)."""
    found: list[tuple[str, bool]] = []
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.ping()
            pipe.execute()
        found += [("multi", False), ("exec", False)]
    except redis.ResponseError as exc:  # MULTI refused: its commands ran alone, EXEC had none
        text = str(exc)
        found.append(
            ("multi", "EXEC without MULTI" in text or (_denied(exc) and "'multi'" in text))
        )
        found.append(("exec", _denied(exc) and "'exec'" in text))
    pubsub = client.pubsub()
    try:
        for name, call in (
            ("subscribe", pubsub.subscribe),
            ("psubscribe", pubsub.psubscribe),
            ("unsubscribe", pubsub.unsubscribe),
            ("punsubscribe", pubsub.punsubscribe),
        ):
            try:
                call(f"{base}:channel")
                pubsub.get_message(timeout=0.5)
                found.append((name, False))
            except redis.ResponseError as exc:
                found.append((name, _denied(exc)))
    finally:
        pubsub.close()
    return found


def _denied(answer: object) -> bool:
    return isinstance(answer, redis.ResponseError) and (
        isinstance(answer, redis.exceptions.NoPermissionError) or "NOPERM" in str(answer)
    )
