"""Heartbeats: something renewed in Redis every few seconds from a thread of its own, whatever
the thread that does the work is busy with (a request that takes its whole timeout, a bisect,
a settle waiting out a refusing Redis).

``Every`` is the thread; ``RunHeartbeat`` holds one delivery run's slot with it, the one path
by which a run's slot is renewed (batch leases are the Lease's, delivery/lease.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from ..errors import StoreError
from ..store.runs import Held, RunSlot

log = logging.getLogger("tracking_worker.delivery")


class Every:
    """Calls ``beat`` every ``seconds`` from a daemon thread until ``stop`` or until ``beat``
    returns False. An exception other than a StoreError is logged and the beats go on: a
    heartbeat that died would let what it holds lapse while its owner works on."""

    def __init__(self, seconds: float, beat: Callable[[], bool], *, name: str) -> None:
        self.seconds = seconds
        self.beat = beat
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Every:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()

    def _loop(self) -> None:
        while not self.stopped.wait(self.seconds):
            try:
                if not self.beat():
                    return
            except Exception:  # logged with its traceback; the next beat tries again
                log.exception("%s: a heartbeat failed; trying again", self.thread.name)


class RunHeartbeat:
    """Holds a run's slot while the run works, renewed every ``every`` seconds: a worker that
    dies frees it within the slot's lapse. ``held`` turns False once the slot lapsed (a pause
    longer than the lapse, Redis unreachable that long, or the entry lost in a failover): the
    run then hands over. ``room`` is how many more runs the provider may have now."""

    def __init__(self, slot: RunSlot, taken: Held, *, every: float, lapse: float) -> None:
        self.slot = slot
        self.lapse = lapse
        self.lock = threading.Lock()
        self.held = taken.done
        self.room = taken.room
        self.fast = False
        self.renewed = time.monotonic()
        self.every = Every(every, self._beat, name=f"tw-run-{slot.keys.provider}")

    def __enter__(self) -> RunHeartbeat:
        self.every.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.every.stop()
        try:
            self.slot.release()
        except StoreError as exc:  # it lapses by itself within seconds: nothing is held up
            log.debug("%s: run slot not released: %s", self.slot.keys.provider, exc)

    def report(self, *, fast: bool) -> None:
        """What the run's last round showed; a change is written at once, so a run recruited
        right after a quick round finds the word that lets it start beside this one."""
        if fast != self.fast:
            self.fast = fast
            self._beat()

    def _beat(self) -> bool:
        """Renew the slot; False (and ``held`` False) once it is lost for good."""
        asked = time.monotonic()
        try:
            answer = self.slot.hold(fast=self.fast)
        except StoreError as exc:
            with self.lock:  # Redis away: held while the slot cannot have lapsed yet
                self.held = self.held and asked - self.renewed < self.lapse
            log.debug("%s: run slot not renewed: %s", self.slot.keys.provider, exc)
            return self.held
        with self.lock:
            self.held = self.held and answer.done
            self.room = answer.room if answer.done else 0
            if answer.done:
                self.renewed = asked
        return self.held
