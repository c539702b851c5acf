"""The Celery app: JSON only, one queue per provider, the beat tick, time limits.

Celery messages carry only a provider name: events live in our own Redis keys, so a lost message
only delays delivery (the next tick starts it again), and retries are scheduled in our own
sorted set, never as Celery countdowns (the Redis transport redelivers long countdowns).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

from celery import Celery, signals
from kombu.entity import Exchange, Queue

from .observability import add_redaction, setup_sentry
from .runtime import Runtime
from .settings import Settings, load_settings

CONTROL_QUEUE = "tracking"


def queue_name(provider: str) -> str:
    return f"{CONTROL_QUEUE}.{provider}"


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app wired to ``settings`` (loaded from the environment when omitted)."""
    settings = settings or load_settings()
    app = Celery("tracking_worker", broker=settings.redis_url, set_as_current=False)
    app.conf.update(celery_config(settings))
    app.tracking_settings = settings  # type: ignore[attr-defined]
    from . import tasks

    tasks.register(app)
    return app


def celery_config(settings: Settings) -> dict[str, Any]:
    delivery = settings.delivery
    run = float(delivery["run_seconds"])
    return {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": CONTROL_QUEUE,
        "task_queues": [_queue(CONTROL_QUEUE)]
        + [_queue(queue_name(p)) for p in settings.providers],
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": run + 4 * float(delivery["lease_seconds"]),
        "task_time_limit": run + 5 * float(delivery["lease_seconds"]),
        "beat_schedule": {
            "tracking-tick": {
                "task": "tracking_worker.tick",
                "schedule": float(delivery["flush_interval"]),
                "options": {"queue": CONTROL_QUEUE, "expires": float(delivery["flush_interval"])},
            }
        },
        "worker_hijack_root_logger": False,
        "broker_transport_options": {"visibility_timeout": 3600},
    }


def _queue(name: str) -> Queue:
    # Its own direct exchange and routing key: a message for one provider reaches one queue.
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def runtime_for(app: Celery) -> Runtime:
    """This process's Runtime; rebuilt after a fork so no socket is shared across processes."""
    current: Runtime | None = getattr(app, "_tracking_runtime", None)
    if current is None or current.pid != os.getpid():
        settings: Settings = app.tracking_settings  # type: ignore[attr-defined]

        def send(provider: str, task: str, flush: bool) -> None:
            app.send_task(
                task, args=[provider], kwargs={"flush": flush}, queue=queue_name(provider)
            )

        current = Runtime(settings, send)
        app._tracking_runtime = current  # type: ignore[attr-defined]
    return current


@lru_cache(maxsize=1)
def default_app() -> Celery:
    """The app ``celery -A tracking_worker`` finds; settings come from the environment."""
    app = create_app()
    connect_observability(app)
    return app


def connect_observability(app: Celery) -> None:
    """Sentry and secret-scrubbing logs for worker and beat processes of ``app``."""
    settings: Settings = app.tracking_settings  # type: ignore[attr-defined]

    def on_start(**_: Any) -> None:
        setup_sentry(settings)

    def on_logging(logger: logging.Logger, **_: Any) -> None:
        add_redaction(logger, settings)

    signals.celeryd_init.connect(on_start, weak=False, dispatch_uid="tw-sentry-worker")
    signals.beat_init.connect(on_start, weak=False, dispatch_uid="tw-sentry-beat")
    signals.after_setup_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact")
    signals.after_setup_task_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact-t")
