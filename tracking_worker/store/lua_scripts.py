"""The Lua scripts of ``store/lua/``, loaded once per Redis client and called by name.

Calls go through EVALSHA; after a Redis restart (empty script cache) a NOSCRIPT answer loads
the scripts again and the call is repeated, so a restart never loses a write. On a Redis
Cluster the call goes to the node of its first key (every key of a call shares its slot), and
a NOSCRIPT loads the scripts on that node.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster

from ..keys import Keys
from . import failover
from .codec import Arg as Arg
from .codec import Layout
from .connection import converted
from .roundtrip import RoundTrip

if TYPE_CHECKING:
    from .connection import Client

#: How long a worker's script (a claim, a settle) waits for a slot moving to a master the
#: cluster client does not know yet, before it is StoreUnavailable (see ``_ask_to_unknown_node``).
SLOT_MOVE_WAIT = 5.0

NAMES = (
    "enqueue",
    "claim",
    "settle",
    "reap",
    "renew",
    "replay",
    "circuit_allow",
    "circuit_record",
    "route_resume",
    "circuit_reset",
    "circuit_release",
    "rate_take",
    "due",
    "run_slot",
    "node_beat",
    "tick",
    "forget_guard",
    "forget_list",
    "forget_batches",
    "forget_dead",
    "suppress",
    "dead_trim",
)

#: Run before every script: ``NOW`` is Redis's own clock (TIME, in seconds), so leases, retry
#: due times, reaping, the circuit and the rate limit agree whatever each host's clock says.
#: (Redis replicates a script's effects, not the script, so reading TIME before writes is safe.)
PRELUDE = (
    "local NOW = (function() local t = redis.call('TIME') "
    "return tonumber(t[1]) + tonumber(t[2]) / 1000000 end)()\n"
)

#: Shared Lua put before some scripts (after the prelude): the receipt writer of settle, reap
#: and replay (and its ``event_id``); forget_lib, which events are a person's (forget_*.lua),
#: and the guard replay and route_resume read while a forget runs; dead_lib, the dead letters'
#: age limit of settle and dead_trim.
LIBRARIES = {
    "enqueue": ("receipts_lib",),
    "settle": ("receipts_lib", "dead_lib"),
    "dead_trim": ("dead_lib",),
    "reap": ("receipts_lib",),
    "replay": ("receipts_lib", "forget_lib"),
    "route_resume": ("forget_lib",),
    "forget_guard": ("forget_lib",),
    "forget_list": ("receipts_lib", "forget_lib"),
    "forget_batches": ("receipts_lib", "forget_lib"),
    "forget_dead": ("receipts_lib", "forget_lib"),
}


class Scripts:
    """Holds the source and SHA1 of every script, and calls them."""

    def __init__(self) -> None:
        folder = resources.files("tracking_worker.store") / "lua"

        def read(name: str) -> str:
            return (folder / f"{name}.lua").read_text(encoding="utf-8")

        self.source = {
            n: PRELUDE + "".join(read(lib) for lib in LIBRARIES.get(n, ())) + read(n) for n in NAMES
        }
        self.sha = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in self.source.items()}
        #: Per client, its connections kept per thread: redis-py's pool checkout and release
        #: cost more CPU than a script call's own round trip (see roundtrip.py). Workers do
        #: not spin for replies: their CPU is worth more than a few microseconds of latency.
        self._trips: weakref.WeakKeyDictionary[redis.Redis, RoundTrip] = weakref.WeakKeyDictionary()

    def loading(self, commands: list[tuple[Any, ...]], load: bool) -> list[tuple[Any, ...]]:
        """``commands``, after a ``SCRIPT LOAD`` of every script when ``load`` (a NOSCRIPT refused
        them): in the same write, so on the same connection, so on the node that refused them.
        Loading through the client's pool instead could reach another node: after a failover a
        pooled connection may still lead to the demoted master (a replica takes SCRIPT LOAD),
        and the promoted one, which need not have the scripts (Valkey does not replicate
        them), refused the call again. ``loaded`` reads the replies back."""
        if not load:
            return commands
        return [*(("SCRIPT", "LOAD", source) for source in self.source.values()), *commands]

    def loads(self, load: bool) -> int:
        """How many replies ``loading`` put before the commands' own."""
        return len(self.source) if load else 0

    def load_on(self, client: RedisCluster, key: str) -> None:
        """Every script into the cache of the cluster node holding ``key``'s slot."""
        with converted("loading the Lua scripts"):
            node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
            for source in self.source.values():
                client.execute_command("SCRIPT LOAD", source, target_nodes=node)  # type: ignore[no-untyped-call]

    def run(self, client: Client, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run one script atomically; redis errors leave as StoreError (see ``converted``)."""
        if isinstance(client, RedisCluster):
            return self._run_on_cluster(client, name, keys, args)
        sha = self.sha[name]
        trips = self._trips.get(client)
        if trips is None:
            trips = self._trips.setdefault(client, RoundTrip(client, spin=0.0))
        with converted(name):
            try:
                return trips.call("EVALSHA", sha, len(keys), *keys, *args)
            except redis.ResponseError as exc:
                if not is_noscript(exc):
                    raise
            replies = trips.exchange(
                self.loading([("EVALSHA", sha, len(keys), *keys, *args)], load=True)
            )
            [answer] = loaded(replies, self.loads(True))
            if isinstance(answer, redis.ResponseError):
                raise answer
            return answer

    def _run_on_cluster(
        self, client: RedisCluster, name: str, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        """``run`` through redis-py's cluster client, which routes EVALSHA by its first key and
        follows the node's redirections (pinned connections would bypass both)."""
        command = ("EVALSHA", self.sha[name], len(keys), *keys, *args)

        def attempt() -> Any:
            try:
                return client.execute_command(*command)  # type: ignore[no-untyped-call]
            except AttributeError as exc:
                if not _ask_to_unknown_node(exc):
                    raise
                raise failover.NotRun(f"{name}: its slot is moving to a new master") from None

        with converted(name):
            try:
                return failover.retry_not_run(attempt, time.monotonic() + SLOT_MOVE_WAIT)
            except redis.ResponseError as exc:
                if not is_noscript(exc):
                    raise
            self.load_on(client, keys[0])
            return failover.retry_not_run(attempt, time.monotonic() + SLOT_MOVE_WAIT)

    def call(self, client: Client, layout: Layout, keys: Keys) -> Any:
        """Run the script ``layout`` holds the arguments of, on the provider of ``keys``."""
        script_keys = layout.keys(keys, getattr(layout, "batch_id", ""))
        return self.run(client, layout.SCRIPT, script_keys, layout.args())

    def queue_call(self, pipe: Any, name: str, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Add a call to a pipeline; the caller executes it (and retries on NOSCRIPT)."""
        pipe.evalsha(self.sha[name], len(keys), *keys, *args)


def is_noscript(exc: redis.RedisError) -> bool:
    """Redis lost its scripts (a restart). redis-py maps the reply to NoScriptError; the message
    test also covers replies it passes on as a plain ResponseError (older servers, proxies)."""
    return isinstance(exc, redis.exceptions.NoScriptError) or (
        isinstance(exc, redis.ResponseError) and "NOSCRIPT" in str(exc)
    )


def loaded(replies: list[Any], loads: int) -> list[Any]:
    """The replies after the first ``loads`` (``Scripts.loading``'s SCRIPT LOADs), which must
    have gone in."""
    if not loads:
        return replies
    for reply in replies[:loads]:
        if isinstance(reply, redis.ResponseError):
            raise reply
    return replies[loads:]


def _ask_to_unknown_node(exc: AttributeError) -> bool:
    """Whether ``exc`` is redis-py's own failure to follow an ASK to a master missing from its
    map: a master being added holds no slot until its first one has moved, so no CLUSTER SLOTS
    answer names it, and redis-py looks it up as None. Nothing ran (the ASK says the key is
    not on the node asked), so the script may be sent again; a settle that raised instead left
    its batch leased, to be sent again after its lease (tests/fleet/test_cluster_faults.py)."""
    return "'NoneType' object has no attribute" in str(exc)
