"""The Celery app: JSON only, one queue per provider, time limits; the tick in beat's own
process (worker/beat.py) and each node's presence (worker/presence.py).

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
from kombu.exceptions import KombuError

from .. import routing
from ..errors import StoreUnavailable
from ..settings import Settings, load_settings
from .beat import connect_tick
from .observability import add_redaction, setup_sentry
from .presence import presence_step
from .process import ProcessState, warn_if_evicting
from .quiet import QuietRepeats, quiet_task_chatter
from .startup import connect_idle_check
from .tasks import register


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app wired to ``settings`` (loaded from the environment when omitted)."""
    settings = settings or load_settings()
    app = Celery("tracking_worker", broker=routing.broker_url(settings), set_as_current=False)
    app.conf.update(celery_config(settings))

    def send(provider: str, flush: bool) -> None:
        try:
            routing.send_deliver(app, provider, flush=flush)
        except KombuError as exc:  # kombu's own and redis-py's, as kombu re-raises them
            raise StoreUnavailable(f"sending deliver({provider}): {exc}") from None

    register(app, ProcessState(settings, send))
    connect_idle_check(app, settings)
    app.steps["worker"].add(presence_step(settings))
    connect_tick(app, settings, send)
    return app


def celery_config(settings: Settings) -> dict[str, Any]:
    delivery = settings.delivery
    return {
        **routing.broker_config(settings),
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        # Redis errors never stop the worker for good. A Redis that refuses (OOM, READONLY,
        # BUSY) answers the consumer's queue declarations and its unacked-message writes with
        # ResponseErrors, which kombu counts as channel errors and Celery, by default, as
        # unrecoverable: the main process exited and nothing restarted it. Retried, they
        # reconnect with Celery's own backoff until Redis accepts again; and reconnecting
        # never gives up (Celery's default: after 100 tries).
        "broker_channel_error_retry": True,
        "broker_connection_max_retries": None,
        # Our tasks are acknowledged when they start (no acks_late), so a reconnect neither
        # cancels nor redelivers a running deliver: it runs on and settles through our own
        # client. True only silences Celery's warning on each reconnect that the default
        # will change.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "beat_scheduler": "tracking_worker.worker.beat:Scheduler",
        "task_default_queue": routing.CONTROL_QUEUE,
        "task_queues": [routing.make_queue(routing.CONTROL_QUEUE)]
        + [routing.make_queue(routing.queue_name(p)) for p in settings.providers],
        "worker_prefetch_multiplier": 1,
        # A node takes a message only when a process of its own is free to run it (Celery >=
        # 5.6, Redis): a run recruits help with one message, which a node whose processes
        # were all busy held for up to run_seconds while another node sat idle.
        "worker_disable_prefetch": True,
        "task_soft_time_limit": delivery.run_seconds + 4 * delivery.lease_seconds,
        "task_time_limit": delivery.run_seconds + 5 * delivery.lease_seconds,
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
        quiet_celery_reconnects()
        quiet_task_chatter((routing.DELIVER_TASK, routing.TICK_TASK))

    signals.celeryd_init.connect(on_worker_start, weak=False, dispatch_uid="tw-sentry-worker")
    signals.beat_init.connect(on_start, weak=False, dispatch_uid="tw-sentry-beat")
    signals.after_setup_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact")
    signals.after_setup_task_logger.connect(on_logging, weak=False, dispatch_uid="tw-redact-t")


#: Celery's consumer says each reconnect, and each burst of them with a traceback, every
#: second while Redis refuses; kombu's Redis transport each of its timers' failures.
NOISY_WHILE_REDIS_REFUSES = ("celery.worker.consumer.consumer", "kombu.transport.redis")


def quiet_celery_reconnects() -> None:
    """Once a minute per message is enough (see QuietRepeats)."""
    for name in NOISY_WHILE_REDIS_REFUSES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietRepeats) for f in logger.filters):
            logger.addFilter(QuietRepeats())
