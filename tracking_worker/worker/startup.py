"""What a worker says when it starts with nothing to do: a configuration with no provider, or
``-Q`` naming none of the provider queues. Both leave events pending with no error anywhere
(the web side enqueues fine), so the worker says it at ERROR, once, where its operator looks."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import Celery, signals

from .. import routing
from ..settings import Settings

log = logging.getLogger("tracking_worker.worker")


def idle_reasons(settings: Settings, consumed: Iterable[str]) -> list[str]:
    """Why a worker consuming ``consumed`` delivers nothing (or not everything); [] when it
    serves every configured provider."""
    if not settings.providers:
        return [
            "tracking_worker: the configuration has no provider: track() enqueues nothing and "
            "this worker delivers nothing (set providers in TRACKING_CONFIG, "
            "settings.TRACKING_WORKER or app.config['TRACKING_WORKER'])"
        ]
    ours = [routing.queue_name(name) for name in settings.providers]
    taken = set(consumed)
    missing = [queue for queue in ours if queue not in taken]
    if not missing:
        return []
    every = ",".join([routing.CONTROL_QUEUE, *ours])
    if len(missing) == len(ours):
        head = "this worker consumes none of the provider queues"
    else:
        head = f"this worker does not consume {', '.join(missing)}"
    return [
        f"tracking_worker: {head}: their events wait until a worker that does runs "
        f"(-Q {every}; `tracking-worker queues` prints the list)"
    ]


def connect_idle_check(app: Celery, settings: Settings) -> None:
    """Check ``app``'s workers once each, after ``-Q`` is applied (``celeryd_after_setup``)."""

    def after_setup(instance: Any = None, **_: Any) -> None:
        if getattr(instance, "app", None) is not app:
            return
        consumed = instance.app.amqp.queues.consume_from  # after -Q / -X
        for reason in idle_reasons(settings, list(consumed)):
            log.error(reason)

    signals.celeryd_after_setup.connect(after_setup, weak=False, dispatch_uid=f"tw-idle-{id(app)}")
