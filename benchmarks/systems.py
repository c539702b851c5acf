"""The three systems under test, each enqueuing from this process and running its own workers.

- ``ours``: ``tracking_worker.track``/``track_many``, ``celery -A tracking_worker worker`` and
  beat, configured by a TOML file (``TRACKING_CONFIG``) that points the provider at the fake.
- ``A``: ``benchmarks.plain_app``, a plain Celery task per event posting it with ``requests``.
- ``B``: ``benchmarks.batches_app``, celery-batches flushing 100 messages per task call.

Every worker starts with the same command shape (``devtools.worker_args``): prefork, the given
``--concurrency``, WARNING logs, no gossip, mingle or heartbeat.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import redis

import tracking_worker
from benchmarks.payloads import GRAMPIXEL_EVENTS, PAYLOADS, TARGETS, broker_url
from tracking_worker.devtools import Child, beat_args, demo_providers, worker_args, write_config

REPO = Path(__file__).resolve().parent.parent
Event = dict[str, Any]
#: Celery's protocol-2 body tail for a task with no callbacks.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def events(count: int, start: int = 0) -> list[Event]:
    """``count`` purchases that Graspil and GramPixel both take (one Telegram user each)."""
    return [
        {"name": "purchase", "telegram_id": 10_000 + i, "value": 5.0, "currency": "USD"}
        for i in range(start, start + count)
    ]


def celery_worker(app: str, concurrency: int, hostname: str) -> list[str]:
    """``devtools.worker_args`` with another ``-A`` app, so every system starts alike."""
    args = worker_args(concurrency=concurrency, hostname=hostname)
    args[args.index("-A") + 1] = app
    return args


class System(Protocol):
    """What the harness does with a system."""

    key: str
    label: str

    def use(self, provider: str) -> None:
        """Send to ``provider`` only, from now on."""

    def track(self, event: Event) -> None:
        """Enqueue one event, as a web request would."""

    def track_many(self, batch: Sequence[Event]) -> None:
        """Enqueue a burst, the way this system offers."""

    def prefill(self, batch: Sequence[Event]) -> None:
        """Queue a backlog before its workers start (not timed)."""

    def start(self, concurrency: int, run: str, nodes: int = 1) -> list[Child]:
        """Start its worker (first; ``nodes`` of them, each its own ``-n``, as hosts of a
        fleet are) and whatever else it needs."""


class Ours:
    """tracking_worker: ``track()`` + worker + beat, configured by one TOML file."""

    key = "ours"
    label = "ours (tracking_worker)"

    def __init__(self, home: Path, redis_url: str, provider_url: str) -> None:
        self.home = home
        self.redis_url = redis_url
        self.provider_url = provider_url
        self.config = home / "ours.toml"
        self.env: dict[str, str] = {}

    def use(self, provider: str) -> None:
        section = dict(demo_providers(self.provider_url)[provider])
        if provider == "graspil":
            section["targets"] = dict(TARGETS)
        elif provider == "grampixel":
            section["events"] = dict(GRAMPIXEL_EVENTS)
        write_config(
            self.config,
            {
                "redis": {"url": self.redis_url},
                # B flushes partial buffers after the same interval.
                "delivery": {"flush_interval": 1.0},
                "producer": {"spool_dir": str(self.home / "spool")},
                # Celery logs at WARNING for every system; per-delivery INFO lines would cost
                # ours CPU that A and B do not spend.
                "observability": {"log_level": "WARNING"},
                "providers": {provider: section},
            },
        )
        os.environ["TRACKING_CONFIG"] = str(self.config)
        os.environ.pop("TRACKING_REDIS_URL", None)
        self.env = dict(os.environ)
        tracking_worker.configure()  # reads TRACKING_CONFIG, as a web process would

    def track(self, event: Event) -> None:
        tracking_worker.track(**event)

    def track_many(self, batch: Sequence[Event]) -> None:
        tracking_worker.track_many(batch)

    def prefill(self, batch: Sequence[Event]) -> None:
        for start in range(0, len(batch), 1000):
            tracking_worker.track_many(batch[start : start + 1000])

    def start(self, concurrency: int, run: str, nodes: int = 1) -> list[Child]:
        workers = [
            Child(
                f"ours-worker-{n}",
                worker_args(concurrency=concurrency, hostname=f"ours{n}@%h"),
                env=self.env,
                log_path=self.home / f"{run}-worker{n}.log",
            ).start()
            for n in range(nodes)
        ]
        beat = Child(
            "ours-beat",
            beat_args(self.home / f"{run}-beat-schedule"),
            env=self.env,
            log_path=self.home / f"{run}-beat.log",
        ).start()
        return [*workers, beat]


class CeleryTasks:
    """A or B: a Celery app in ``benchmarks/`` with one task per provider, one message per event."""

    def __init__(self, key: str, label: str, module: str, home: Path) -> None:
        self.key = key
        self.label = label
        self.module = module
        self.home = home
        self.task: Any = None
        self.payload: Callable[[Event], dict[str, Any]] | None = None

    def use(self, provider: str) -> None:
        # Imported late: the apps read BENCH_BROKER_URL at import.
        self.task = importlib.import_module(self.module).TASKS[provider]
        self.payload = PAYLOADS[provider]

    def track(self, event: Event) -> None:
        assert self.payload is not None
        self.task.delay(self.payload(event))

    def track_many(self, batch: Sequence[Event]) -> None:
        """Celery has no bulk send: one ``delay()`` per event, as a view would loop."""
        assert self.payload is not None
        delay, payload = self.task.delay, self.payload
        for event in batch:
            delay(payload(event))

    def prefill(self, batch: Sequence[Event]) -> None:
        """The first event goes through ``delay()``; the rest are copies of that message with
        their own ids, arguments and delivery tags, pushed in pipelines (``delay()`` manages
        about 2,000 a second, which would make a deep backlog take longer than its drain)."""
        assert self.payload is not None
        if not batch:
            return
        queue = self.task.app.conf.task_default_queue
        client = redis.Redis.from_url(broker_url())
        try:
            self.track(batch[0])
            template = client.lrange(queue, 0, -1)
            if len(template) != 1:
                raise RuntimeError(f"expected one message in {queue!r}, found {len(template)}")
            message = json.loads(template[0])
            for start in range(1, len(batch), 1000):
                chunk = batch[start : start + 1000]
                client.lpush(queue, *[self._copy(message, e) for e in chunk])
        finally:
            client.close()

    def _copy(self, message: dict[str, Any], event: Event) -> str:
        assert self.payload is not None
        payload = self.payload(event)
        task_id = str(uuid.uuid4())
        body = json.dumps([[payload], {}, _EMBED]).encode()
        headers = {**message["headers"], "id": task_id, "root_id": task_id}
        headers["argsrepr"] = repr((payload,))
        properties = {**message["properties"], "correlation_id": task_id}
        properties["delivery_tag"] = str(uuid.uuid4())
        copy = {**message, "headers": headers, "properties": properties}
        copy["body"] = base64.b64encode(body).decode()
        return json.dumps(copy)

    def start(self, concurrency: int, run: str, nodes: int = 1) -> list[Child]:
        path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        return [
            Child(
                f"{self.key}-worker-{n}",
                celery_worker(self.module, concurrency, f"{self.key}{n}@%h"),
                env=env,
                log_path=self.home / f"{run}-worker{n}.log",
                cwd=str(REPO),
            ).start()
            for n in range(nodes)
        ]


def make_systems(home: Path, redis_url: str, provider_url: str) -> dict[str, System]:
    """The three systems by key; A's and B's modules read the URLs from the environment."""
    os.environ["BENCH_BROKER_URL"] = redis_url
    os.environ["BENCH_PROVIDER_URL"] = provider_url
    return {
        "ours": Ours(home, redis_url, provider_url),
        "A": CeleryTasks("A", "A: plain task per event", "benchmarks.plain_app", home),
        "B": CeleryTasks("B", "B: celery-batches", "benchmarks.batches_app", home),
    }
