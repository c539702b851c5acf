"""A worker node's presence in Redis: for each provider queue it consumes, how many processes
it runs tasks with, renewed every heartbeat from its main process (a thread of a bootstep, so
idle pool processes count, and a pool busy with long runs does not stop it). The run slots
size a provider's runs by the live processes (store/lua/run_slot.lua); a node that stops says
so, and one that dies stops counting ``lapse_seconds`` after its last beat.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

from .. import routing
from ..delivery.heartbeat import Every
from ..errors import StoreError, StoreUnavailable
from ..keys import Keys
from ..settings import Settings
from ..store.connection import worker_client
from ..store.lua_scripts import Scripts
from ..store.runs import beat_node
from .quiet import OncePerMinute

log = logging.getLogger("tracking_worker.worker")


def presence_step(settings: Settings) -> type[bootsteps.StartStopStep]:
    """A worker bootstep keeping this node's presence for ``settings``' providers (one class
    per app: a bootstep is built by Celery, so its settings travel as a class attribute)."""
    return type("TrackingPresence", (Presence,), {"settings": settings})


def processes(worker: Any) -> int:
    """The processes (or threads) this node runs tasks with: an autoscaler's maximum, else
    the pool's size."""
    autoscaler = getattr(worker, "autoscaler", None)
    if autoscaler is not None:
        return int(autoscaler.max_concurrency)
    return max(1, int(getattr(worker.pool, "num_processes", None) or worker.concurrency or 1))


class Presence(bootsteps.StartStopStep):  # type: ignore[misc] # Celery ships no type hints
    """Started once the pool is, stopped with the worker."""

    requires = ("celery.worker.components:Pool",)
    settings: Settings

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.every: Every | None = None
        self.quiet = OncePerMinute(log)

    def start(self, worker: Any) -> None:
        consumed = set(worker.app.amqp.queues.consume_from)
        prefix = self.settings.redis.key_prefix
        self.keys = [
            Keys(name, prefix)
            for name in self.settings.providers
            if routing.queue_name(name) in consumed
        ]
        if not self.keys:
            return
        self.node, self.processes = worker.hostname, processes(worker)
        self.client, self.scripts = worker_client(self.settings), Scripts()
        every = self.settings.delivery.heartbeat_seconds
        self.every = Every(every, self.beat, name="tw-presence").start()
        self.beat()

    def stop(self, worker: Any) -> None:
        if self.every is None:
            return
        self.every.stop()
        self.every = None
        self.processes = 0  # leaving: the runs stop counting this node at once
        self.beat()

    def beat(self) -> bool:
        try:
            for keys in self.keys:
                beat_node(
                    self.client,
                    self.scripts,
                    keys,
                    node=self.node,
                    processes=self.processes,
                    lapse=self.settings.delivery.lapse_seconds,
                )
        except StoreUnavailable as exc:
            self.quiet.failed("presence", exc)
        except StoreError as exc:  # a wrong key type: said, and the next beat tries again
            log.error("presence not recorded: %s", exc)
        else:
            self.quiet.succeeded("presence")
        return True
