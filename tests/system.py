"""A running tracking_worker under test: config file, Celery worker and beat processes, and a
Tracker on the same settings, plus the questions tests ask of it."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from tests.helpers import wait_for
from tracking_worker.devtools import Child, beat_args, demo_providers, worker_args, write_config
from tracking_worker.keys import Keys
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store.queue import ProviderQueue
from tracking_worker.worker.app import create_app

FAST_DELIVERY = {
    "flush_interval": 0.5,
    "backoff_base": 0.2,
    "backoff_cap": 2.0,
    "breaker_cooldown": 1.0,
    "run_seconds": 10.0,
}


class System:
    def __init__(
        self,
        home: Path,
        redis_url: str,
        sandbox_url: str,
        *,
        providers: list[str] | None = None,
        delivery: dict[str, Any] | None = None,
        producer: dict[str, Any] | None = None,
        provider_overrides: dict[str, dict[str, Any]] | None = None,
        redis: dict[str, Any] | None = None,
        beat: bool = True,
        concurrency: int = 2,
        loglevel: str = "WARNING",
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        every = demo_providers(sandbox_url)
        chosen = {
            n: {**every[n], **(provider_overrides or {}).get(n, {})}
            for n in (providers or list(every))
        }
        self.config = home / "tracking.toml"
        write_config(
            self.config,
            {
                "redis": {"url": redis_url, **(redis or {})},
                "delivery": {**FAST_DELIVERY, **(delivery or {})},
                "producer": {"spool_dir": str(home / "spool"), **(producer or {})},
                "providers": chosen,
            },
        )
        self.env = {**os.environ, "TRACKING_CONFIG": str(self.config)}
        self.env.pop("TRACKING_REDIS_URL", None)
        self.settings: Settings = load_settings(environ=self.env)
        self.tracker = Tracker(self.settings)
        self.with_beat = beat
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.worker: Child | None = None
        self.beat: Child | None = None
        self.nodes: list[Child] = []
        self.hostname = f"test-{os.getpid()}-{id(self)}@{socket.gethostname()}"

    def start(self) -> System:
        self.start_worker()
        if self.with_beat:
            self.beat = Child(
                "beat",
                beat_args(self.home / "beat-schedule", loglevel=self.loglevel),
                env=self.env,
                log_path=self.home / "beat.log",
            ).start()
        return self

    def start_worker(self) -> None:
        self.worker = Child(
            "worker",
            worker_args(
                concurrency=self.concurrency, hostname=self.hostname, loglevel=self.loglevel
            ),
            env=self.env,
            log_path=self.home / "worker.log",
        ).start()

    def start_node(self, name: str, *, concurrency: int = 1) -> Child:
        """Another worker node on the same configuration (its own ``-n`` hostname and log): a
        second host of a fleet. Stopped with the system."""
        node = Child(
            f"worker-{name}",
            worker_args(
                concurrency=concurrency, hostname=self.node_name(name), loglevel=self.loglevel
            ),
            env=self.env,
            log_path=self.home / f"worker-{name}.log",
        ).start()
        self.nodes.append(node)
        return node

    def node_name(self, name: str) -> str:
        return f"{name}-{self.hostname}"

    def wait_worker_ready(self, timeout: float = 30.0) -> None:
        app = create_app(self.settings)
        wait_for(
            lambda: app.control.ping(destination=[self.hostname], timeout=0.5),
            timeout,
            message="worker answers ping",
        )

    def stop(self) -> None:
        """Tests end with a kill, not a warm shutdown: Redis is flushed after each test anyway,
        and the graceful path is what ``tracking-worker dev`` is tested with."""
        for child in (self.beat, self.worker, *self.nodes):
            if child is not None:
                child.kill()
        self.tracker.close()

    def queue(self, provider: str) -> ProviderQueue:
        from tracking_worker.store.lua_scripts import Scripts

        return ProviderQueue(self.tracker.client, Scripts(), Keys(provider))

    def counts(self, provider: str) -> dict[str, int]:
        return self.queue(provider).counts()

    def settled(self, provider: str, produced: int) -> bool:
        """Every produced event has reached its end: delivered or dead."""
        c = self.counts(provider)
        return (
            c["delivered"] + c["dead"] >= produced
            and c["pending"] == 0
            and not (c["leased_batches"] or c["retry_batches"])
        )

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.home.glob("*.log"))
