"""The tick: reap leases whose worker went silent, put back what changed settings resumed,
and start a flushing delivery wherever work is due, for every provider; once a minute, trim
what outlived its retention.

Beat runs it in its own process (worker/beat.py), never as a task queued behind deliveries:
with every worker process busy delivering, a queued tick waited, expired unrun, and "last
tick" reached minutes. Each tick first claims its interval in Redis (store/lua/tick.lua), so
two beats running at once tick as one. ``tracking-worker tick`` ticks at once, whatever the
last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..delivery.pauses import Pauses
from ..keys import Keys
from ..quarantine import QUARANTINE_DIR, Quarantine
from ..settings import Settings
from ..store.circuit import Circuit
from ..store.lua_scripts import Scripts
from ..store.queue import ProviderQueue
from ..store.routes import Routes
from ..store.runs import claim_tick

if TYPE_CHECKING:
    from ..store.connection import Client

log = logging.getLogger("tracking_worker.runtime")

#: A tick comes no sooner than this share of its interval after the last one (any beat's):
#: the beats' timers drift apart, and a claim must not skip the tick that is due.
MIN_GAP = 0.75
#: Seconds between two retention passes of a process's tick: data ages in days, and a pass
#: costs a round trip per provider.
RETENTION_EVERY = 60.0


@dataclass(frozen=True)
class Tickable:
    """What the tick needs of one provider."""

    queue: ProviderQueue
    pauses: Pauses
    #: Events that make a full batch: that many pending start a delivery at once.
    claim_size: int


class Ticker:
    """The tick over every configured provider; ``trigger(name)`` sends one deliver message
    unless one is already marked as waiting."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        scripts: Scripts,
        providers: Mapping[str, Tickable],
        trigger: Callable[[str], bool],
    ) -> None:
        self.settings = settings
        self.client = client
        self.scripts = scripts
        self.providers = providers
        self.trigger = trigger
        self.quarantine = Quarantine(Path(settings.producer.spool_dir) / QUARANTINE_DIR)
        self._retention_at = 0.0  # time.monotonic() of the next retention pass

    @property
    def interval(self) -> float:
        """Twice per ``flush_interval``: a partial batch goes out at most half an interval
        after it has aged; a tick is one cheap script per provider."""
        return self.settings.delivery.flush_interval / 2

    def tick(self, *, force: bool = False) -> dict[str, int] | None:
        """Tick, unless another tick came within this interval (None then; ``force``: tick
        anyway). Every time involved is Redis's, so a tick host whose clock is off reaps no
        live lease. Returns the providers whose delivery it started."""
        gap = 0.0 if force else MIN_GAP * self.interval
        if not claim_tick(self.client, self.scripts, self.settings.redis.key_prefix, min_gap=gap):
            return None
        started: dict[str, int] = {}
        wait = self.settings.delivery.flush_interval
        for name, provider in self.providers.items():
            # Once per process, as a run does before its first claim: a pause that changed
            # settings lifted puts its parked events back, so a provider with nothing else
            # pending gets its run from this tick.
            provider.pauses.start()
            reaped = provider.queue.reap()
            if reaped:
                log.warning("%s: %d batch(es) lost their worker; returned to retry", name, reaped)
            due = provider.queue.due(full=provider.claim_size, wait=wait)
            if due and self.trigger(name):
                started[name] = 1
        self.retention()
        return started

    def retention(self, *, now: float | None = None) -> None:
        """At most once per RETENTION_EVERY: dead letters older than ``delivery.dead_ttl``
        (an idle provider's too: settle trims only when it writes one), and the quarantine
        files of the host that ticks (beat's) older than ``producer.quarantine_ttl``."""
        now = time.monotonic() if now is None else now
        if now < self._retention_at:
            return
        self._retention_at = now + RETENTION_EVERY
        for name, provider in self.providers.items():
            aged = provider.queue.trim_dead()
            if aged:
                log.info("%s: %d dead letter(s) older than dead_ttl removed", name, aged)
        try:
            self.quarantine.remove_older_than(self.settings.producer.quarantine_ttl)
        except OSError as exc:  # a spool folder this process may not touch: say, go on
            log.warning("quarantine %s: %s", self.quarantine.directory, exc)


def tickables(settings: Settings, client: Client, scripts: Scripts) -> dict[str, Tickable]:
    """Each configured provider's tick parts, for a process that delivers nothing (beat)."""
    delivery, prefix = settings.delivery, settings.redis.key_prefix
    found: dict[str, Tickable] = {}
    for name, provider in settings.build_providers().items():
        keys = Keys(name, prefix)
        queue = ProviderQueue(
            client,
            scripts,
            keys,
            dead_max=delivery.dead_max,
            receipts_ttl=delivery.receipts_ttl,
            dead_ttl=delivery.dead_ttl,
        )
        circuit = Circuit(client, scripts, keys, delivery)
        routes = Routes(client, scripts, keys)
        pauses = Pauses(provider, routes, circuit, report=None, clock=time.time)
        found[name] = Tickable(queue, pauses, provider.claim_size(delivery.lease_seconds))
    return found
