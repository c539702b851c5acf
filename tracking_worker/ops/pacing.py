"""Holding a bulk operation (an import, a replay) to a rate, so a backfill does not flood a
provider whose limits we do not know."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """``wait(done)`` sleeps until ``done`` items are due at ``rate`` per second since the
    pacer started; with no rate it returns at once."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.start = clock()

    def wait(self, done: int) -> None:
        if not self.rate:
            return
        ahead = self.start + done / self.rate - self.clock()
        if ahead > 0:
            self.sleep(ahead)

    def chunk(self, largest: int) -> int:
        """How many items to do between waits: about a second's worth, at most ``largest``."""
        if not self.rate:
            return largest
        return max(1, min(largest, int(self.rate)))
