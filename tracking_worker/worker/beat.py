"""Beat's scheduler: Celery's own, quiet while the broker is down or refusing.

Celery's logs every tick it cannot send with a traceback, twice per ``flush_interval``; a tick
that is not sent loses nothing (the next one does its work), so one line a minute says enough.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import PersistentScheduler, SchedulingError

from .quiet import OncePerMinute

log = logging.getLogger("tracking_worker.beat")


class Scheduler(PersistentScheduler):  # type: ignore[misc] # Celery ships no type hints
    """``celery beat``'s default scheduler, but a send that fails is said once a minute."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.quiet = OncePerMinute(log)
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        component = f"beat: sending {entry.name}"
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except SchedulingError as exc:
            self.quiet.failed(component, exc)
            return
        self.quiet.succeeded(component)
