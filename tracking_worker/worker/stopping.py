"""Whether this worker is stopping, as every process of it can tell: the deliveries' cue to
claim nothing more, start no request, settle what went out and give the rest back.

A stop reaches a prefork worker in one of two ways, and a pool child must hear both:
- SIGTERM to the main process alone (``kill``, Kubernetes, docker stop): Celery's warm shutdown
  stops consuming and waits for the running tasks, but tells the children nothing. Its
  ``worker_shutting_down`` signal sets a byte of memory the main process shares with every child
  it forks (an anonymous shared mapping made before the pool starts), which a run reads between
  its requests.
- SIGTERM to the whole process group (systemd, Ctrl-C's terminal, ``kill -- -pgid``): the
  children get it too, and billiard's handler ends a child at once, mid-batch, while its request
  threads go on sending for the second before it exits. During a run ``deferred_sigterm`` holds
  that off: the run stops as above, then the signal is raised again, so the child still ends as
  billiard meant, only after its batches are settled.
"""

from __future__ import annotations

import logging
import mmap
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger("tracking_worker.worker")


class Stopping:
    """Made in the main process before the pool forks; called (no arguments) to ask."""

    def __init__(self) -> None:
        # Anonymous and MAP_SHARED (mmap's default): a child forked later sees the parent's
        # writes, a pool child replaced mid-stop included.
        self._shared = mmap.mmap(-1, 1)
        #: This process got SIGTERM during a run (a child's own, never shared with the others:
        #: billiard also sends one to end a single child, for a revoke with terminate).
        self._here = False

    def __call__(self) -> bool:
        return self._here or self._shared[0] == 1

    def set(self, **_: Any) -> None:
        """The whole worker stops (a ``worker_shutting_down`` receiver: no allocation, no lock,
        safe in the signal handler Celery sends it from)."""
        self._shared[0] = 1

    @contextmanager
    def deferred_sigterm(self) -> Iterator[None]:
        """A SIGTERM during the block stops the run instead of ending the process at once; once
        the block is done it is raised again for the handler it found. Only the main thread can
        take a signal (a threads pool's task runs elsewhere and is stopped by ``set``)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        received: list[int] = []

        def note(signum: int, _: FrameType | None) -> None:
            received.append(signum)
            self._here = True

        previous = signal.signal(signal.SIGTERM, note)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
            if received:
                log.warning("SIGTERM: delivery stopped and settled; ending this process")
                signal.raise_signal(signal.SIGTERM)
