"""A host's own Celery app, as a project has one: its own serializer (pickle), default queue,
routes, time limits, prefetch, a task and a beat entry. ``tracking_worker.install`` adds our
delivery to it. The worker in ``test_celery_install`` runs ``celery -A tests.contrib.host_celery``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import redis
from celery import Celery

import tracking_worker

#: Where the host's own task records that it ran (a key in the broker's Redis).
DONE_KEY = "host:done"
BEAT_KEY = "host:beat"


def make_app(broker: str) -> Celery:
    app = Celery("host_shop", broker=broker, set_as_current=False)
    app.conf.update(
        task_serializer="pickle",
        result_serializer="pickle",
        accept_content=["pickle"],
        task_default_queue="host",
        task_routes={"host.*": {"queue": "host"}, "*": {"queue": "host-misc"}},
        task_time_limit=300,
        worker_prefetch_multiplier=4,
        task_annotations={"host.record": {"rate_limit": "100/s"}},
        beat_schedule={
            "host-heartbeat": {"task": "host.beat", "schedule": 0.5, "args": (BEAT_KEY,)}
        },
    )

    @app.task(name="host.record", shared=False)  # type: ignore[untyped-decorator]
    def record(key: str, value: Any) -> None:
        """Stores a value only pickle can carry (a set), so it proves the host's serializer."""
        client = redis.Redis.from_url(broker)
        client.set(key, pickle.dumps(value))
        client.close()

    @app.task(name="host.beat", shared=False)  # type: ignore[untyped-decorator]
    def beat(key: str) -> None:
        client = redis.Redis.from_url(broker)
        client.incr(key)
        client.close()

    return app


def __getattr__(name: str) -> Any:
    """``app``, for ``celery -A tests.contrib.host_celery``: built when the worker asks, with
    tracking_worker's settings from TRACKING_CONFIG (as ``celery -A tracking_worker`` reads
    them), so a test importing ``make_app`` builds no app of this module's own."""
    if name != "app":
        raise AttributeError(name)
    app = make_app(os.environ["HOST_BROKER_URL"])
    tracking_worker.install(app)
    globals()["app"] = app
    return app
