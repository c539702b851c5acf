"""Who delivers a provider now: its runs (held by heartbeats), the worker nodes that size them,
and the tick that two beats claim in turn.

A run slot and a node's presence are short-lived entries renewed every heartbeat, never
lease-long locks: whatever kills their holder (SIGKILL, a lost host, a failover that replicated
them to a new master), they free their provider within ``DeliverySettings.lapse_seconds``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..keys import Keys, tick_key
from . import codec
from .lua_scripts import Scripts

if TYPE_CHECKING:
    from .connection import Client


@dataclass(frozen=True)
class Held:
    """What taking or holding a run slot answered."""

    #: The run holds its slot (False: every allowed run is taken, or this one lapsed).
    done: bool
    #: How many more runs may start now: the backlog and the live processes call for them.
    room: int
    #: The node's other runs of this provider when the call was made (0: the node's first).
    rank: int


class RunSlot:
    """One run's slot of a provider, under a token of its own."""

    def __init__(
        self,
        client: Client,
        scripts: Scripts,
        keys: Keys,
        *,
        node: str,
        lapse: float,
        cap: int,
        per_run: int,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.token = uuid.uuid4().hex
        self.node = node
        self.milliseconds = max(1, int(lapse * 1000))
        self.cap = cap
        self.per_run = per_run

    def take(self) -> Held:
        """Start a run if the provider's backlog, its live processes and this node allow one."""
        return self._call("take")

    def hold(self, *, fast: bool = False) -> Held:
        """Renew the slot (``fast``: the run's last round was quick); not done when it lapsed."""
        return self._call("hold", fast=fast)

    def release(self) -> None:
        self._call("release")

    def _call(self, action: str, *, fast: bool = False) -> Held:
        call = codec.RunSlot(
            action=action,
            token=self.token,
            node=self.node,
            milliseconds=self.milliseconds,
            cap=self.cap,
            per_run=self.per_run,
            fast=fast,
        )
        done, room, rank = self.scripts.call(self.client, call, self.keys)
        return Held(int(done) == 1, int(room), int(rank))


def beat_node(
    client: Client, scripts: Scripts, keys: Keys, *, node: str, processes: int, lapse: float
) -> int:
    """Say that worker ``node`` lives with ``processes`` for this provider (0: it is leaving);
    returns the live processes of every node."""
    call = codec.NodeBeat(node=node, processes=processes, milliseconds=max(1, int(lapse * 1000)))
    return int(scripts.call(client, call, keys))


def claim_tick(client: Client, scripts: Scripts, prefix: str, *, min_gap: float) -> bool:
    """Whether this tick runs: none ticked in the last ``min_gap`` seconds (0: tick anyway).
    Records the tick (Redis time) when it does."""
    call = codec.Tick(min_gap=min_gap)
    return int(scripts.run(client, call.SCRIPT, [tick_key(prefix)], call.args())) == 1


def mark_tick(client: Client, prefix: str = "tw") -> bool:
    """Record a tick now, whatever the last one (what ``tracking_worker_last_tick_timestamp_
    seconds`` reads); False when Redis would not."""
    try:
        return claim_tick(client, Scripts(), prefix, min_gap=0.0)
    except StoreError:
        return False
