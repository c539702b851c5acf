"""``cluster_intake.ClusterIntake`` over redis.asyncio (``atrack()``): the same calls
(``enqueue_call``), the same handling of each answer (redirected, NOSCRIPT, lost); each node's
calls in one write on one of its connections, the nodes written and read concurrently."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis

from ..errors import StoreError
from .async_roundtrip import on_connection
from .cluster import node_of
from .cluster_intake import (
    Call,
    Routed,
    enqueue_call,
    followable,
    group,
    keys_per_node,
    lacks_scripts,
    may_have_run,
    redirected,
    unknown_node,
)
from .connection import converted
from .failover import not_run, passing
from .intake import Admitted, Limits, Route, admitted
from .lua_scripts import Scripts
from .node_skips import NodeSkips
from .replication import Replication

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster


class AsyncClusterIntake:
    """``AsyncIntake`` on a cluster: each provider's ``enqueue.lua`` call to its own node."""

    def __init__(
        self, client: RedisCluster, scripts: Scripts, key_prefix: str, *, wait: float
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.key_prefix = key_prefix
        self.replication = Replication(0)  # see ClusterIntake
        self.skips = NodeSkips()  # see ClusterIntake
        self.wait = wait

    async def enqueue(
        self, routes: Mapping[str, Route], limits: Limits
    ) -> dict[str, Admitted | StoreError]:
        deadline = time.monotonic() + self.wait
        with converted("enqueue"):
            await self.client.initialize()  # at once once the cluster is known
            answers = await self._send(routes, limits, deadline)
            lost = [name for name, answer in answers.items() if may_have_run(answer)]
            if lost and time.monotonic() < deadline:
                checked = dataclasses.replace(limits, check=True)
                again = await self._send({name: routes[name] for name in lost}, checked, deadline)
                answers.update(again)
        return {name: admitted(answers[name]) for name in routes}

    async def _send(
        self, routes: Mapping[str, Route], limits: Limits, deadline: float
    ) -> dict[str, Any]:
        calls = {
            name: enqueue_call(self.scripts, name, route, limits, self.key_prefix)
            for name, route in routes.items()
        }
        replies = await exchange(self.client, list(calls.values()), deadline, self.skips)
        answers = dict(zip(calls, replies, strict=True))
        missing = [name for name, answer in answers.items() if lacks_scripts(answer)]
        if missing:
            for key in keys_per_node(self.client, [calls[name][0] for name in missing]):
                await self._load_on(key)
            again = await exchange(
                self.client, [calls[name] for name in missing], deadline, self.skips
            )
            answers.update(zip(missing, again, strict=True))
        return answers

    async def _load_on(self, key: str) -> None:
        node = node_of(self.client, key)
        for source in self.scripts.source.values():
            await self.client.execute_command("SCRIPT LOAD", source, target_nodes=node)


async def exchange(
    client: RedisCluster, routed: Sequence[Routed], deadline: float, skips: NodeSkips
) -> list[Any]:
    """``cluster_intake.exchange`` awaited (what was not run sent again while ``deadline`` is
    not past)."""
    nodes = group(node_of(client, key) for key, _ in routed)
    parts = await asyncio.gather(
        *(_on_node(node, [routed[i][1] for i in indexes], skips) for node, indexes in nodes.items())
    )
    replies: list[Any] = [None] * len(routed)
    for node, indexes, part in zip(nodes, nodes.values(), parts, strict=True):
        skips.record(node.name, part)
        for index, reply in zip(indexes, part, strict=True):
            replies[index] = reply
    for index, reply in enumerate(replies):
        if redirected(reply) and time.monotonic() < deadline:
            if not followable(client, reply):
                replies[index] = unknown_node(reply)
                continue
            try:
                replies[index] = await client.execute_command(*routed[index][1])
            except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
                replies[index] = exc
    return replies


async def _on_node(node: Any, commands: list[Call], skips: NodeSkips) -> list[Any]:
    """One node's replies; a failure of its connection in the place of each (NotRun when
    nothing was sent; ``NodeSkipped`` when ``skips`` names it)."""
    skipped = skips.skipped(node.name)
    if skipped is not None:
        return [skipped] * len(commands)
    try:
        conn = node.acquire_connection()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return [not_run(exc, "connecting") if passing(exc) else exc] * len(commands)
    try:
        return await on_connection(conn, commands)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return [exc] * len(commands)
    finally:
        node.release(conn)
