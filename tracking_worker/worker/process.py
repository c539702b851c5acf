"""Everything one worker process needs to deliver, built once from Settings.

Built lazily per process (after a prefork fork), never shared across processes: each has its
own Redis pool, HTTP sessions and thread pools.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..delivery.deliverer import Deliverer, RunReport
from ..delivery.transport import Transport
from ..keys import Keys
from ..settings import Settings
from ..store.circuit import Circuit
from ..store.connection import eviction_policy, worker_client
from ..store.lua_scripts import Scripts
from ..store.queue import ProviderQueue
from ..store.ratelimit import RateLimiter
from .observability import report_to_sentry
from .quiet import OncePerMinute
from .stopping import Stopping
from .ticker import Tickable, Ticker

log = logging.getLogger("tracking_worker.runtime")

#: Sends deliver(provider, flush) to the provider's queue.
SendDeliver = Callable[[str, bool], None]


class ProcessState:
    """This process's WorkerProcess, built on first use and rebuilt after a fork, so no socket
    or thread pool is shared across processes."""

    def __init__(self, settings: Settings, send: SendDeliver) -> None:
        self.settings = settings
        self.send = send
        #: Made here, in the main process before the pool forks, so every child shares it.
        self.stopping = Stopping()
        self.quiet = OncePerMinute(log)
        self._current: WorkerProcess | None = None

    def current(self) -> WorkerProcess:
        if self._current is None or self._current.pid != os.getpid():
            self._current = WorkerProcess(self.settings, self.send, stopping=self.stopping)
        return self._current


class WorkerProcess:
    """Deliverers per provider, over one Redis client."""

    def __init__(
        self,
        settings: Settings,
        send: SendDeliver,
        clock: Callable[[], float] = time.time,
        *,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        #: Only for what is local to this process: a run's own time budget, an event's age.
        self.pid = os.getpid()
        self.settings = settings
        self.send = send
        self.clock = clock
        self.client = worker_client(settings)
        self.scripts = Scripts()
        self.keys: dict[str, Keys] = {}
        self.deliverers: dict[str, Deliverer] = {}
        prefix = settings.redis.key_prefix
        for name, provider in settings.build_providers().items():
            keys = self.keys[name] = Keys(name, prefix)
            queue = ProviderQueue(
                self.client,
                self.scripts,
                keys,
                dead_max=settings.delivery.dead_max,
                receipts_ttl=settings.delivery.receipts_ttl,
                dead_ttl=settings.delivery.dead_ttl,
            )
            circuit = Circuit(self.client, self.scripts, keys, settings.delivery)
            transport = Transport(
                max_connections=provider.max_connections, timeout=provider.timeout
            )
            executor = ThreadPoolExecutor(provider.max_connections, thread_name_prefix=f"tw-{name}")
            limiter = (
                RateLimiter(self.client, self.scripts, keys, provider.rate_limit)
                if provider.rate_limit
                else None
            )
            self.deliverers[name] = Deliverer(
                provider,
                queue,
                circuit,
                transport,
                executor,
                settings.delivery,
                clock=clock,
                limiter=limiter,
                report=_report,
                stopping=stopping,
                dry_run=(provider.settings.mode or settings.delivery.mode) == "dry_run",
            )
        dry = [name for name, deliverer in self.deliverers.items() if deliverer.dry_run]
        if dry:  # once per worker process: a dry run must not be forgotten
            log.warning("dry run of %s: requests are logged, never sent", ", ".join(dry))

    def deliver(self, name: str, *, flush: bool, node: str = "") -> RunReport | None:
        """Run a delivery of ``name`` on worker ``node`` (its Celery hostname)."""
        deliverer = self.deliverers.get(name)
        if deliverer is None:
            log.error("deliver(%s): provider not configured in this worker", name)
            return None
        deliverer.queue.clear_trigger()
        report = deliverer.run(
            flush=flush, recruit=lambda: self.trigger(name, flush=flush), node=node
        )
        if report.more:
            self.trigger(name, flush=flush)
        return report

    @functools.cached_property
    def ticker(self) -> Ticker:
        """The tick (worker/ticker.py) from a worker process: ``tracking-worker tick``, and a
        tick task an older beat sent; built once, so its retention runs once a minute."""
        parts = {
            name: Tickable(d.queue, d.pauses, d.claim_size) for name, d in self.deliverers.items()
        }
        trigger = functools.partial(self.trigger, flush=True)
        return Ticker(self.settings, self.client, self.scripts, parts, trigger)

    def tick(self, *, force: bool = False) -> dict[str, int] | None:
        """One tick; None when another came within its interval (``force``: tick anyway)."""
        return self.ticker.tick(force=force)

    def trigger(self, name: str, *, flush: bool) -> bool:
        """Send deliver(name) unless one is already queued (at most one in flight)."""
        if not self.deliverers[name].queue.mark_trigger(self.settings.delivery.trigger_ttl_ms):
            return False
        self.send(name, flush)
        return True


def _report(kind: str, provider: str, reason: str, count: int) -> object:
    return report_to_sentry(kind, provider, reason, count=count)


def warn_if_evicting(settings: Settings) -> str | None:
    """Say so at start when Redis may evict keys: an evicted batch loses its events (they are
    then counted as ``lost``). Returns the policy found."""
    client = worker_client(settings)
    try:
        policy = eviction_policy(client)
    finally:
        client.close()
    if policy is not None and policy != "noeviction":
        log.warning(
            "Redis maxmemory-policy is %r: under memory pressure Redis may evict queued events "
            "and batches; set it to 'noeviction'",
            policy,
        )
    return policy
