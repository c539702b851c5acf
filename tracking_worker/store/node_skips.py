"""A cluster master that stopped answering is skipped for a moment by the web side.

On one Redis, a round trip that failed makes ``track()`` skip Redis for ``DOWN_FOR`` and spool
at once (``producer/outage.py``). On a cluster only the providers of one master are hit when it
hangs (paused, swapping, cut off before the cluster fails it over, 15 s by default): without a
skip, every call waited ``socket_timeout`` on it, 0.5 s added to each web request for as long
as it lasted. After a call timed out on a master, the next calls for ``DOWN_FOR`` spool its
providers' parts without sending them (unsent: nothing to look up when they are drained) and
send the other masters' parts as ever; the first call after that tries it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

#: Seconds a master that timed out is skipped (as ``outage.DOWN_FOR`` skips a whole Redis).
DOWN_FOR = 1.0


class NodeSkipped(redis.exceptions.ClusterDownError):
    """In place of the reply of a command not sent to a master being skipped: refused for
    now, as CLUSTERDOWN is (its provider's part is spooled alone; it surely did not run)."""


class NodeSkips:
    """The masters being skipped, by node name (``host:port``), and until when."""

    def __init__(
        self, down_for: float = DOWN_FOR, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.down_for = down_for
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def skipped(self, node: str) -> NodeSkipped | None:
        """The error to put in place of each reply of ``node``, while it is skipped."""
        until = self._until.get(node)
        if until is None or self.clock() >= until:
            return None
        return NodeSkipped(f"{node} skipped for {self.down_for:g}s after it timed out")

    def record(self, node: str, replies: list[object]) -> None:
        """After a call's exchange with ``node``: a timeout among its replies skips it, an
        answer ends its skip (replies it was skipped for say nothing of it)."""
        if any(isinstance(reply, NodeSkipped) for reply in replies):
            return
        if any(isinstance(reply, redis.TimeoutError) for reply in replies):
            with self._lock:
                self._until[node] = self.clock() + self.down_for
        elif node in self._until:
            with self._lock:
                self._until.pop(node, None)
