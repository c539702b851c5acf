"""``tracking-worker dev``: the whole system on one machine with nothing installed beforehand.

A private redis-server (append-only, data under ``.tracking/``; or ``TRACKING_REDIS_URL``), the
provider sandbox, a Celery worker and beat, and with ``--demo`` a producer sending a stream of
events, while a live per-provider table (the ``status`` view) is refreshed in place. Ctrl-C (or
``--duration``) stops every child.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..ops.views import make_console, status_table, status_text
from ..producer.tracker import Tracker
from ..settings import Settings, load_settings
from ..store.status import Snapshot, collect
from .demo import demo_event, demo_settings, refuse_demo_user, write_config
from .redis_server import EmbeddedRedis, free_port
from .supervisor import Child, beat_args, sandbox_args, wait_http, worker_args

if TYPE_CHECKING:
    from ..store.connection import Client


class DevRun:
    """Owns every child of one ``dev`` run and stops them in reverse order."""

    def __init__(self, home: Path, *, demo: bool, rate: float, concurrency: int) -> None:
        self.home = home
        self.demo = demo
        self.rate = rate
        self.concurrency = concurrency
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []
        self.stopping = threading.Event()
        #: Events delivered so far, as the last table showed.
        self.delivered = 0

    def start(self) -> Settings:
        self.home.mkdir(parents=True, exist_ok=True)
        redis_url = os.environ.get("TRACKING_REDIS_URL")
        if not redis_url:
            self.redis = EmbeddedRedis(self.home / "redis").start()
            redis_url = self.redis.url
        port = free_port()
        sandbox_url = f"http://127.0.0.1:{port}"
        config = self.home / "dev.toml"
        write_config(config, demo_settings(redis_url, sandbox_url))
        env = {**os.environ, "TRACKING_CONFIG": str(config), "TRACKING_REDIS_URL": redis_url}
        self._spawn("sandbox", sandbox_args(port), env)
        wait_http(f"{sandbox_url}/_sandbox/health")
        if self.demo:
            refuse_demo_user(sandbox_url)
        self._spawn("worker", worker_args(concurrency=self.concurrency), env)
        self._spawn("beat", beat_args(self.home / "celerybeat-schedule"), env)
        return load_settings(environ=env)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.children.append(Child(name, args, env=env, log_path=self.home / f"{name}.log").start())

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def produce(tracker: Tracker, rate: float, stop: threading.Event) -> None:
    rand = random.Random()
    while not stop.wait(1.0 / rate):
        try:
            tracker.track(**demo_event(rand))
        except Exception as exc:  # noqa: BLE001 - the demo keeps going and says why
            print(f"demo producer: {type(exc).__name__}: {exc}", file=sys.stderr)


def run(
    *,
    demo: bool,
    duration: float | None,
    rate: float = 20.0,
    home: str = ".tracking",
    concurrency: int = 2,
) -> int:
    """The ``dev`` command; returns the exit code (0 when events were delivered, or no demo)."""
    dev = DevRun(Path(home), demo=demo, rate=rate, concurrency=concurrency)
    signal.signal(signal.SIGTERM, lambda *_: dev.stopping.set())
    try:
        settings = dev.start()
        tracker = Tracker(settings)
        if demo:
            threading.Thread(
                target=produce, args=(tracker, rate, dev.stopping), daemon=True
            ).start()
        try:
            _watch(dev, settings, tracker.client, duration)
        except KeyboardInterrupt:
            print("\nstopping: letting the workers finish (Ctrl-C again skips that)", flush=True)
        dev.stopping.set()
        dev.delivered = _settle(dev, settings, tracker.client) or dev.delivered
    except KeyboardInterrupt:
        pass
    finally:
        dev.stopping.set()
        dev.stop()
    print(f"stopped; {dev.delivered} event(s) delivered in total")
    return 0 if dev.delivered > 0 or not demo else 1


def _settle(dev: DevRun, settings: Settings, client: Client, timeout: float = 5.0) -> int:
    """With the producer stopped, let the workers finish what is queued (briefly: what is left
    stays in Redis's append-only file for the next run) and print the final table."""
    deadline = time.monotonic() + timeout
    snapshot = collect(settings, client)
    while time.monotonic() < deadline and _busy(snapshot):
        time.sleep(0.2)
        snapshot = collect(settings, client)
    print(f"-- final\n{status_text(snapshot)}\n", flush=True)
    return _delivered(snapshot)


def _busy(snapshot: Snapshot) -> bool:
    return any(s.pending + s.in_flight + s.retry_scheduled for s in snapshot.providers.values())


def _delivered(snapshot: Snapshot) -> int:
    return sum(s.delivered for s in snapshot.providers.values())


def _watch(dev: DevRun, settings: Settings, client: Client, duration: float | None) -> int:
    """Refresh the table in place every second (on a terminal; into a pipe, print it every
    five) until Ctrl-C, SIGTERM or the duration is up."""
    from rich.live import Live

    start = time.monotonic()
    console = make_console()
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    ticks = 0
    try:
        if live is not None:
            live.start()
        while not dev.stopping.wait(1.0):
            ticks += 1
            snapshot = collect(settings, client)
            dev.delivered = _delivered(snapshot)
            elapsed = time.monotonic() - start
            if live is not None:
                title = f"tracking-worker dev  {elapsed:5.0f}s  (Ctrl-C stops)"
                live.update(status_table(snapshot, title=title, console=console), refresh=True)
            elif ticks % 5 == 0:
                print(f"-- {elapsed:.0f}s\n{status_text(snapshot)}\n", flush=True)
            if duration is not None and elapsed >= duration:
                break
            dead = [c.name for c in dev.children if not c.alive]
            if dead:
                print(f"child process(es) exited: {', '.join(dead)}; see {dev.home}/*.log")
                break
    finally:
        if live is not None:
            live.stop()
    return dev.delivered
