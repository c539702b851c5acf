"""A claimed batch's lease as the sending process can vouch for it, and the one place that
decides when to renew it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import StoreError
from ..outcomes import Retry


class Lease:
    """Whether a request of the batch may still start, and its renewals a third of a lease
    apart.

    A request starts only while the lease is surely held: two thirds of a lease (the hold)
    after it was taken or last renewed, counted from the moment that call was sent. A worker
    paused past its lease (GC, a stopped VM, SIGSTOP) must not send what another worker now
    sends again; renewals come a third of a lease apart, so missing one by twice that means
    this process was frozen. Once the lease is lost it stays lost.

    Only the thread that sends the batch renews it: between its own requests (a long bisect
    of one chunk) or while it waits for the pool's; the pool's threads never wait on Redis.
    """

    def __init__(self, keep_alive: Callable[[], bool], *, lease: float, since: float) -> None:
        #: Renews the lease in Redis; False when it was lost (reaped: another worker may send it).
        self.keep_alive = keep_alive
        self.hold = lease * 2 / 3
        self.every = lease / 3
        #: Counted from ``since``, the moment before the claim was sent (``time.monotonic()``),
        #: not from now: a worker frozen between its claim and its first request must not take
        #: its waking for a fresh lease (it sent 20 requests of a batch another worker had).
        self.held_until = since + self.hold
        self.renew_at = since + self.every
        self.lost = False
        self.lock = threading.Lock()
        self.owner = threading.get_ident()

    def due_in(self) -> float:
        """Seconds until the next renewal is due (0 when it is)."""
        return max(0.0, self.renew_at - time.monotonic())

    def renew_if_due(self) -> None:
        """Renew when due, from the sending thread; elsewhere, or before it is due, nothing."""
        asked = time.monotonic()
        if asked < self.renew_at or threading.get_ident() != self.owner:
            return
        try:
            held = self.keep_alive()
        except StoreError:  # whether it is still ours cannot be told: send no more of it
            held = False
        self.renew_at = asked + self.every
        with self.lock:
            # The new lease runs from no earlier than the call, whenever its answer came.
            if held and not self.lost:
                self.held_until = max(self.held_until, asked + self.hold)
            else:
                self.lost = True

    def unsent(self) -> Retry | None:
        """The outcome for a request that may not start now the lease may have run out, or
        None while it is surely held."""
        with self.lock:
            self.lost = self.lost or time.monotonic() >= self.held_until
            if self.lost:
                return Retry("not sent: the batch's lease ran out (worker paused?)", sent=False)
            return None
