"""Our delivery inside your own Celery app: ``tracking_worker.install(app)``.

What ``create_app`` sets app-wide is added per task or merged, so the host app keeps its own
serializer, routes, time limits and schedule:

- our two tasks (``worker.tasks.register``), sending and accepting JSON whatever the app's
  ``task_serializer``, with our time limits (``task_annotations``, ours only);
- our queues, added to the app's (its default queue kept when it had none listed);
- ``json`` added to ``accept_content`` when missing: the tick's and the web side's triggers
  are JSON (a host that pickles keeps pickling its own tasks);
- the tick, in the app's beat process (whatever its scheduler: ``beat_init``), and each
  worker node's presence (a bootstep), which sizes our delivery runs;
- secret-scrubbing of the worker's log handlers, and the start-up warning about Redis eviction.

Set ``worker_disable_prefetch = True`` in the app (Celery >= 5.6) for our runs to spread over
several nodes: without it a node whose processes are all busy may hold the message that asks
another process to help (see the README). It is left to the host: it changes how the node
takes every task's messages.

Sentry is left to the host, which initialises it once for the whole process.

A message that names only its queue reaches it whatever the app's ``task_routes`` say: Celery
lets explicit options win over routes, and ours always name the queue.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from celery import Celery, signals

from .. import routing
from ..errors import ConfigurationError
from ..settings import Settings, load_settings
from .app import celery_config
from .beat import connect_tick
from .observability import add_redaction
from .presence import presence_step
from .process import ProcessState, warn_if_evicting
from .quiet import quiet_task_chatter
from .startup import connect_idle_check
from .tasks import register

log = logging.getLogger("tracking_worker.worker")

OUR_TASKS = (routing.DELIVER_TASK, routing.TICK_TASK)


def install(app: Celery, settings: Settings | None = None, *, flask_app: Any = None) -> list[str]:
    """Register our tasks, queues, tick and presence in ``app``; returns our queue names (a worker
    started with ``-Q`` must list them). ``settings`` default to the web side's: Flask's
    ``flask_app.config["TRACKING_WORKER"]`` when given, else Django's
    ``settings.TRACKING_WORKER`` in a Django project, else the environment's (each merged over
    TRACKING_CONFIG and TRACKING_REDIS_URL, as the web side reads them): the worker must
    deliver what ``track()`` enqueued, with the same providers."""
    settings = settings or framework_settings(flask_app)

    def send(provider: str, flush: bool) -> None:
        routing.send_deliver(app, provider, flush=flush)

    register(app, ProcessState(settings, send))
    ours = celery_config(settings)
    queues = [queue.name for queue in ours["task_queues"]]

    def merge(**_: Any) -> None:
        _merge(app, ours, settings)

    if app.configured:
        merge()
    else:  # configured later (``config_from_object`` is lazy): merged once it is
        app.on_after_configure.connect(merge, weak=False, dispatch_uid=f"tw-install-{id(app)}")
    _connect_signals(app, settings)
    connect_idle_check(app, settings)
    app.steps["worker"].add(presence_step(settings))
    connect_tick(app, settings, send)
    return queues


def framework_settings(flask_app: Any = None) -> Settings:
    """The settings the web side of this project uses (see ``install``)."""
    if flask_app is not None:
        from ..contrib.flask import CONFIG_KEY

        return load_settings(
            _sections(flask_app.config.get(CONFIG_KEY), f"app.config[{CONFIG_KEY!r}]")
        )
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        try:
            from django.conf import settings as django_settings
        except ImportError:  # the variable without Django: the environment's settings
            return load_settings()
        from ..contrib.django.apps import SETTING

        raw = getattr(django_settings, SETTING, None)
        return load_settings(_sections(raw, f"settings.{SETTING}"))
    return load_settings()


def _sections(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"{where} must be a dict of sections (redis, delivery, producer, observability, "
            "providers)"
        )
    return raw


def _merge(app: Celery, ours: Mapping[str, Any], settings: Settings) -> None:
    conf = app.conf
    # The queues the app declares now, its default one included when it lists none: what
    # Celery would consume without us.
    theirs = app.amqp.Queues(conf.task_queues)
    conf.task_queues = [
        *theirs.values(),
        *(queue for queue in ours["task_queues"] if queue.name not in theirs),
    ]
    accept = list(conf.accept_content or [])
    if "json" not in accept and "application/json" not in accept:
        conf.accept_content = [*accept, "json"]
    annotations = {
        name: {
            "serializer": "json",
            "soft_time_limit": ours["task_soft_time_limit"],
            "time_limit": ours["task_time_limit"],
        }
        for name in OUR_TASKS
    }
    conf.task_annotations = [annotations, *_as_list(conf.task_annotations)]
    if conf.broker_url and conf.broker_url != routing.broker_url(settings):
        log.warning(
            "this Celery app's broker is not tracking_worker's (redis.url, its sentinels, or "
            "redis.broker_url with a cluster): "
            "track() sends its full-batch triggers to that one, which this app's workers do not "
            "read, so deliveries start on beat's tick only (every %.1f s)",
            settings.delivery.flush_interval / 2,
        )


def _as_list(annotations: Any) -> list[Any]:
    if annotations is None:
        return []
    if isinstance(annotations, (list, tuple)):
        return list(annotations)
    return [annotations]


def _connect_signals(app: Celery, settings: Settings) -> None:
    """What ``connect_observability`` does for our own app, but only for this app's worker,
    and without Sentry."""

    def on_worker_init(instance: Any = None, **_: Any) -> None:
        if getattr(instance, "app", None) is app:
            warn_if_evicting(settings)

    def on_logging(logger: logging.Logger, **_: Any) -> None:
        add_redaction(logger, settings)
        quiet_task_chatter(OUR_TASKS)  # only ours: the host's tasks log as they did

    uid = f"tw-install-{id(app)}"
    signals.celeryd_init.connect(on_worker_init, weak=False, dispatch_uid=f"{uid}-init")
    signals.after_setup_logger.connect(on_logging, weak=False, dispatch_uid=f"{uid}-log")
    signals.after_setup_task_logger.connect(on_logging, weak=False, dispatch_uid=f"{uid}-tlog")
