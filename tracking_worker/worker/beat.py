"""Beat's side of us: the tick, run in the beat process itself, and a scheduler that is quiet
while the broker is down.

The tick is no task: a task queued behind deliveries waited while every worker process was busy
(with the Procfile's worker and a 100,000-event backfill, every tick expired unrun and "last
tick" reached 1 m 48 s). ``connect_tick`` starts it in a thread of every beat of the app
(``beat_init``: our own app's beat and a host app's, whatever its scheduler), every half
``flush_interval``; each tick claims its interval in Redis first, so two beats tick as one.

Celery's scheduler logs every entry it cannot send with a traceback; one line a minute says
enough (a host's own entries, under ``install()``, or ours before this version).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from celery.beat import PersistentScheduler, SchedulingError
from kombu.exceptions import KombuError

from ..delivery.heartbeat import Every
from ..errors import StoreUnavailable
from ..settings import Settings
from ..store.connection import worker_client
from ..store.lua_scripts import Scripts
from .quiet import OncePerMinute
from .ticker import Ticker, tickables

log = logging.getLogger("tracking_worker.beat")

#: Sends deliver(provider, flush) to the provider's queue.
SendDeliver = Callable[[str, bool], None]


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


def connect_tick(app: Celery, settings: Settings, send: SendDeliver) -> None:
    """Tick in every beat process of ``app``, from the moment it starts."""

    def on_beat_init(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            BeatTick(settings, send).start()

    signals.beat_init.connect(on_beat_init, weak=False, dispatch_uid=f"tw-tick-{id(app)}")


class BeatTick:
    """The tick in a beat process: its own Redis client and thread."""

    def __init__(self, settings: Settings, send: SendDeliver) -> None:
        self.client = worker_client(settings)
        scripts = Scripts()
        self.parts = tickables(settings, self.client, scripts)
        self.ticker = Ticker(settings, self.client, scripts, self.parts, self._trigger)
        self.send = send
        self.ttl_ms = settings.delivery.trigger_ttl_ms
        self.quiet = OncePerMinute(log)

    def start(self) -> Every:
        """Tick every interval from a daemon thread (beat's own loop only sleeps)."""
        return Every(self.ticker.interval, self.once, name="tw-tick").start()

    def once(self) -> bool:
        """One tick; Redis away or refusing is said once a minute, and the next tick tries."""
        try:
            self.ticker.tick()
        except StoreUnavailable as exc:
            self.quiet.failed("tick", exc)
            return True
        self.quiet.succeeded("tick")
        return True

    def _trigger(self, name: str) -> bool:
        if not self.parts[name].queue.mark_trigger(self.ttl_ms):
            return False
        try:
            self.send(name, True)
        except KombuError as exc:  # kombu's own and redis-py's, as kombu re-raises them
            raise StoreUnavailable(f"sending deliver({name}): {exc}") from None
        return True
