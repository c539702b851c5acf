"""``redis.wait_replicas``: an enqueue acknowledged only once replicas hold it (Redis WAIT).

Redis replicates asynchronously: a master that dies a moment after answering takes the
events it had not yet sent to a replica with it, and the replica promoted in its place never
had them. With ``wait_replicas = n``, each enqueue round trip ends with ``WAIT n <ms>`` on the
same connection (after EXEC, in the same write), so ``track()`` returns once ``n`` replicas
have the events, or once the time left of its deadline has passed.

When fewer replicas answer in time (the replica is down, lagging, or was just promoted and has
none yet) the events are still on the master: spooling them would only send them twice. The
call counts as ``unreplicated`` and a warning says so once a minute; for ``RECHECK_AFTER`` the
following calls do not wait (a replica that is gone would otherwise cost every request the
whole wait) and count as unreplicated too; then one call waits again to see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tracking_worker")

#: After a WAIT came back short, calls skip it this long.
RECHECK_AFTER = 1.0
#: WAIT's own timeout is this share of the time left: its reply must arrive before the
#: socket's read timeout (``socket_timeout``, counted from the same moment) gives up on it.
WAIT_SHARE = 0.8
WARN_EVERY = 60.0


class Replication:
    """One tracker's WAIT policy and its count of unreplicated enqueues (no I/O)."""

    def __init__(self, replicas: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.replicas = replicas
        self.clock = clock
        #: Enqueue round trips acknowledged by fewer replicas than asked (or not waited for
        #: while they were missing), since this tracker was built.
        self.unreplicated = 0
        self._skip_until = 0.0
        self._warned_at = -WARN_EVERY
        self._lock = threading.Lock()

    def command(self, deadline: float) -> list[tuple[Any, ...]]:
        """The WAIT to send after an enqueue (none when not asked for, or while replicas are
        known missing), its timeout the time left before ``deadline`` (``clock`` time)."""
        if not self.replicas:
            return []
        now = self.clock()
        if now < self._skip_until:
            return []
        return [("WAIT", self.replicas, max(1, int((deadline - now) * WAIT_SHARE * 1000)))]

    def record(self, waited: bool, reply: Any) -> None:
        """After an enqueue that went in: ``reply`` is WAIT's (the replicas that have it), or
        None when no WAIT was sent."""
        if not self.replicas:
            return
        if waited and isinstance(reply, int) and reply >= self.replicas:
            return
        with self._lock:
            self.unreplicated += 1
            now = self.clock()
            if waited:
                self._skip_until = now + RECHECK_AFTER
            if now - self._warned_at < WARN_EVERY:
                return
            self._warned_at = now
        log.warning(
            "enqueue acknowledged by %s of the %d replica(s) redis.wait_replicas asks for: "
            "the events are on the master only until replicas catch up (%d such enqueues so far)",
            reply if waited and isinstance(reply, int) else "none",
            self.replicas,
            self.unreplicated,
        )
