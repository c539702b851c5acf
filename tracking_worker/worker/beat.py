"""Beat's scheduler: Celery's own, quiet while the broker is down or refusing, and reconnecting
when its broker node was demoted.

Celery's logs every tick it cannot send with a traceback, twice per ``flush_interval``; a tick
that is not sent loses nothing (the next one does its work), so one line a minute says enough.
A tick refused with READONLY (a failover behind one address: its connection still reaches the
old master) drops the connection, so the next tick reaches the node the address leads to now.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import PersistentScheduler, SchedulingError

from .. import routing
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
            if routing.demoted(exc):
                self.reconnect()
            return
        self.quiet.succeeded(component)

    def reconnect(self) -> None:
        """Forget the broker connection and its producer (Celery builds both again for the
        next tick); the old connection's sockets are closed now."""
        self.__dict__.pop("producer", None)
        connection = self.__dict__.pop("connection", None)
        if connection is None:
            return
        try:
            connection.collect()
        except Exception as exc:  # noqa: BLE001 - its sockets go with it; the next tick reconnects
            log.debug("beat: closing the demoted broker connection: %r", exc)
