"""The Celery app: JSON only, one queue per provider, the beat tick, time limits.

Celery messages carry only a provider name: events live in our own Redis keys, so a lost message
only delays delivery (the next tick starts it again), and retries are scheduled in our own
sorted set, never as Celery countdowns (the Redis transport redelivers long countdowns).
Nothing is hung on the app: the tasks close over this process's ``ProcessState``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Celery, signals

from .. import routing
from ..settings import Settings, load_settings
from .observability import add_redaction, setup_sentry
from .process import ProcessState, warn_if_evicting
from .tasks import register


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app wired to ``settings`` (loaded from the environment when omitted)."""
    settings = settings or load_settings()
    app = Celery("tracking_worker", broker=settings.redis.url, set_as_current=False)
    app.conf.update(celery_config(settings))

    def send(provider: str, flush: bool) -> None:
        routing.send_deliver(app, provider, flush=flush)

    register(app, ProcessState(settings, send))
    return app


def celery_config(settings: Settings) -> dict[str, Any]:
    delivery = settings.delivery
    return {
        **routing.message_config(),
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": routing.CONTROL_QUEUE,
        "task_queues": [routing.make_queue(routing.CONTROL_QUEUE)]
        + [routing.make_queue(routing.queue_name(p)) for p in settings.providers],
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": delivery.run_seconds + 4 * delivery.lease_seconds,
        "task_time_limit": delivery.run_seconds + 5 * delivery.lease_seconds,
        "beat_schedule": {
            # Twice per flush_interval: a partial batch goes out at most half an interval
            # after it has aged; the tick is one cheap script per provider.
            "tracking-tick": {
                "task": routing.TICK_TASK,
                "schedule": delivery.flush_interval / 2,
                "options": {"queue": routing.CONTROL_QUEUE, "expires": delivery.flush_interval},
            }
        },
        "worker_hijack_root_logger": False,
    }


@lru_cache(maxsize=1)
def default_app() -> Celery:
    """The app ``celery -A tracking_worker`` finds; settings come from the environment."""
    settings = load_settings()
    app = create_app(settings)
    connect_observability(settings)
    return app


def connect_observability(settings: Settings) -> None:
    """Sentry and secret-scrubbing logs for the worker and beat processes of this program, and
    the worker's start-up check of Redis's eviction policy."""

    def on_start(**_: Any) -> None:
        setup_sentry(settings)

    def on_worker_start(**_: Any) -> None:
        setup_sentry(settings)
        warn_if_evicting(settings)

    def on_logging(logger: logging.Logger, **_: Any) -> None:
        add_redaction(logger, settings)

    signals.celeryd_init.connect(on_worker_start, weak=False, dispatch_uid="tw-sentry-worker")
    signals.beat_init.connect(on_start, weak=False, dispatch_uid="tw-sentry-beat")
    signals.after_setup_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact")
    signals.after_setup_task_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact-t")
