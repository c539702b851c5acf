"""``Intake.enqueue`` on a Redis Cluster: one ``enqueue.lua`` call per provider, each sent to the
master of its provider's slot, the calls for one node in one write, every node written before any
is read (one round trip's wait, however many nodes).

No MULTI: a transaction cannot span slots. Each provider's part stands alone, as it already
does inside MULTI/EXEC, which rolls nothing back: what Redis did for it, or why it failed, and
the caller spools the failed parts alone. What did not reach the node holding a slot now (a
MOVED or ASK reply after the slot moved, a node that could not be reached) goes again through
redis-py's cluster client, which follows the redirection and refreshes its map of the slots; a
node that restarted without its scripts (NOSCRIPT) gets them loaded and its calls sent again; a
reply lost once the call was sent is sent again with each id looked up (``Limits.check``), so
nothing is added twice.

Connections are taken from each node's pool per call, not pinned per thread
(``roundtrip.py``): measured in the README, "Redis Cluster".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster

from ..errors import StoreError
from .cluster import node_of
from .connection import converted
from .failover import NotRun, not_run, passing
from .intake import Admitted, Limits, Route, admitted, call_args
from .lua_scripts import Scripts, is_noscript
from .node_skips import NodeSkips
from .replication import Replication

#: One command as sent, and the key whose slot decides its node.
Call = tuple[Any, ...]
Routed = tuple[str, Call]


class ClusterIntake:
    """The producer's door into the store on a cluster (see the module's docstring)."""

    def __init__(
        self, client: RedisCluster, scripts: Scripts, key_prefix: str, *, wait: float
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.key_prefix = key_prefix
        #: Never waits (``redis.wait_replicas`` is refused with a cluster); kept so both
        #: intakes answer the same questions.
        self.replication = Replication(0)
        #: Masters that timed out, skipped for a moment (``node_skips.py``).
        self.skips = NodeSkips()
        #: Seconds a lost reply may still be sent again (``socket_timeout`` on the web side).
        self.wait = wait

    def enqueue(
        self, routes: Mapping[str, Route], limits: Limits
    ) -> dict[str, Admitted | StoreError]:
        """Each route to its node; each provider's answer on its own. Raises StoreError or
        StoreUnavailable only when no provider could be tried (the cluster not reached)."""
        deadline = time.monotonic() + self.wait
        with converted("enqueue"):
            answers = self._send(routes, limits, deadline)
            lost = [name for name, answer in answers.items() if may_have_run(answer)]
            if lost and time.monotonic() < deadline:
                checked = dataclasses.replace(limits, check=True)
                again = self._send({name: routes[name] for name in lost}, checked, deadline)
                answers.update(again)
        return {name: admitted(answers[name]) for name in routes}

    def _send(self, routes: Mapping[str, Route], limits: Limits, deadline: float) -> dict[str, Any]:
        calls = {
            name: enqueue_call(self.scripts, name, route, limits, self.key_prefix)
            for name, route in routes.items()
        }
        replies = exchange(self.client, list(calls.values()), deadline, self.skips)
        answers = dict(zip(calls, replies, strict=True))
        missing = [name for name, answer in answers.items() if lacks_scripts(answer)]
        if missing:
            for key in keys_per_node(self.client, [calls[name][0] for name in missing]):
                self.scripts.load_on(self.client, key)
            again = exchange(self.client, [calls[name] for name in missing], deadline, self.skips)
            answers.update(zip(missing, again, strict=True))
        return answers


def enqueue_call(scripts: Scripts, name: str, route: Route, limits: Limits, prefix: str) -> Routed:
    """One provider's ``enqueue.lua`` call (shared with the async path), with its first key."""
    keys, args = call_args(name, route, limits, prefix)
    return keys[0], ("EVALSHA", scripts.sha["enqueue"], len(keys), *keys, *args)


def exchange(
    client: RedisCluster, routed: Sequence[Routed], deadline: float, skips: NodeSkips
) -> list[Any]:
    """Each command's reply, or the error it met in its place; what its node did not run
    (redirected, or the node not reached) sent again through the cluster client, one command
    at a time, while ``deadline`` (``time.monotonic()``) is not past: each may wait its own
    socket_timeout on a node that hangs (connections accepted, nothing answered), and a call
    cost one socket_timeout more per provider of that node, 1.5 s instead of 0.5 with two
    (tests/fleet/test_cluster_faults.py). A command not sent again keeps its error: its
    provider's part is spooled. A master ``skips`` names is not written to at all."""
    replies = _by_node(client, routed, skips)
    for index, reply in enumerate(replies):
        if redirected(reply) and time.monotonic() < deadline:
            if not followable(client, reply):
                replies[index] = unknown_node(reply)
                continue
            try:
                command: Any = client.execute_command  # redis-py leaves it unannotated
                replies[index] = command(*routed[index][1])
            except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
                replies[index] = exc
    return replies


def _by_node(client: RedisCluster, routed: Sequence[Routed], skips: NodeSkips) -> list[Any]:
    replies: list[Any] = [None] * len(routed)
    written: list[_Written] = []
    nodes = group(node_of(client, key) for key, _ in routed)
    try:
        for node, indexes in nodes.items():
            skipped = skips.skipped(node.name)
            if skipped is not None:
                for i in indexes:
                    replies[i] = skipped
                continue
            pool = client.get_redis_connection(node).connection_pool
            sent = _write(pool, [routed[i][1] for i in indexes])
            if isinstance(sent, Exception):
                for i in indexes:
                    replies[i] = sent
            else:
                written.append(_Written(pool, sent, indexes))
        for part in written:
            part.read(replies)
    finally:
        for part in written:
            part.release()
    for node, indexes in nodes.items():
        skips.record(node.name, [replies[i] for i in indexes])
    return replies


def _write(pool: Any, commands: list[Call]) -> Any:
    """A connection of ``pool`` with ``commands`` sent, or why they could not be (NotRun
    when they surely did not run)."""
    try:
        conn = pool.get_connection()  # a new one connects at once (redis-py 8)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return not_run(exc, "connecting") if passing(exc) else exc
    try:
        conn.send_packed_command(conn.pack_commands(commands))
    except BaseException as exc:
        conn.disconnect()  # a half-sent command must not reach the next caller
        pool.release(conn)
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return not_run(exc, "sending") if passing(exc) else exc
        raise
    return conn


@dataclasses.dataclass
class _Written:
    """One node's connection, its commands sent, their replies not read yet."""

    pool: Any
    conn: Any
    indexes: list[int]
    done: bool = False

    def read(self, replies: list[Any]) -> None:
        """Each reply into its place; a connection lost midway leaves its error in the place
        of every reply not read (those commands may have run)."""
        unread = list(self.indexes)
        try:
            while unread:
                try:
                    replies[unread[0]] = self.conn.read_response()
                except redis.ResponseError as exc:  # read whole: the connection is still good
                    replies[unread[0]] = exc
                unread.pop(0)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            for index in unread:
                replies[index] = exc
            return
        self.done = True

    def release(self) -> None:
        if not self.done:
            self.conn.disconnect()  # replies left unread must not reach the next caller
        self.pool.release(self.conn)


def group(nodes: Any) -> dict[Any, list[int]]:
    """The positions of the commands per node, in the order first met."""
    found: dict[Any, list[int]] = {}
    for index, node in enumerate(nodes):
        found.setdefault(node, []).append(index)
    return found


def keys_per_node(client: Any, keys: Sequence[str]) -> list[str]:
    """One of ``keys`` per node holding them."""
    found = group(node_of(client, key) for key in keys)
    return [keys[indexes[0]] for indexes in found.values()]


def redirected(reply: Any) -> bool:
    """A command its node did not run: the slot lives elsewhere now (MOVED, ASK: MovedError is
    an AskError), or the node could not be reached."""
    return isinstance(reply, (redis.exceptions.AskError, NotRun))


def followable(client: Any, reply: Any) -> bool:
    """Whether redis-py's cluster client (sync or async) can follow ``reply``. An ASK names
    the node importing the slot, which redis-py looks up in its map of the cluster: a master
    being added holds no slot until its first one is moved, is in no CLUSTER SLOTS answer, so
    not in the map, and redis-py then failed with an AttributeError of its own, which left
    track() (tests/fleet/test_cluster_faults.py, the reshard to a new master)."""
    if isinstance(reply, redis.exceptions.MovedError) or not isinstance(
        reply, redis.exceptions.AskError
    ):
        return True
    return client.get_node(host=reply.host, port=reply.port) is not None


def unknown_node(reply: redis.exceptions.AskError) -> redis.RedisError:
    """In place of an ASK the client cannot follow: the slot is moving, try again (refused
    for now, as a TRYAGAIN is: that provider's part is spooled, and drained once the slot has
    moved, when a MOVED puts the new master in the map)."""
    return redis.exceptions.TryAgainError(
        f"TRYAGAIN slot {reply.slot_id} is moving to {reply.host}:{reply.port}, a master not in "
        "this client's map of the cluster yet (ASK)"
    )


def lacks_scripts(reply: Any) -> bool:
    return isinstance(reply, redis.RedisError) and is_noscript(reply)


def may_have_run(reply: Any) -> bool:
    """A reply lost after the command was sent: it may have run, or not."""
    return isinstance(reply, (redis.ConnectionError, redis.TimeoutError))
