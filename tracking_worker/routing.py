"""Where deliveries are asked for: queue and task names, and sending a deliver trigger.

The web side's only contact with Celery. A trigger is a message carrying a provider name and
nothing else (events live in our own Redis keys), so this module needs no worker code: the app
it sends with has no tasks registered, only the broker and the queue layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from celery import Celery
    from kombu.entity import Queue

    from .settings import Settings

#: Seconds a broker waits on a sentinel for the master's address (kombu sets no bound: a
#: sentinel that accepts and never answers would hold a worker's reconnect forever).
SENTINEL_TIMEOUT = 5.0
#: Beat's tick and anything not bound to one provider.
CONTROL_QUEUE = "tracking"
DELIVER_TASK = "tracking_worker.deliver"
TICK_TASK = "tracking_worker.tick"


def queue_name(provider: str) -> str:
    return f"{CONTROL_QUEUE}.{provider}"


def make_queue(name: str) -> Queue:
    """Its own direct exchange and routing key: a message for one provider reaches one queue."""
    from kombu.entity import Exchange, Queue

    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def send_deliver(app: Celery, provider: str, *, flush: bool) -> None:
    """Ask a worker to run ``deliver(provider)`` (flush: also partial batches)."""
    app.send_task(
        DELIVER_TASK,
        args=[provider],
        kwargs={"flush": flush},
        queue=make_queue(queue_name(provider)),
        serializer="json",  # whatever the host app's default (an app of your own may pickle)
    )


def prepare(app: Celery) -> None:
    """Import now what the app's first ``send_deliver`` would import (its loader, AMQP layer,
    task and result classes, the Redis transport): about 70 ms on a first trigger otherwise.
    An asyncio process runs this in a thread before its loop is busy: imports in a thread
    still hold the interpreter, and stalled the loop by up to 28 ms when they ran mid-stream."""
    import kombu.transport.redis  # noqa: F401 - imported for its side effect: loaded once

    _ = (app.loader, app.amqp, app.Task, app.AsyncResult, app.backend)


def message_config() -> dict[str, Any]:
    """What producers and workers must agree on: JSON only, both ways, and how long an
    unacknowledged message stays invisible before the Redis transport redelivers it."""
    return {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "broker_transport_options": {"visibility_timeout": 3600},
    }


def broker_url(settings: Settings) -> str:
    """Celery's broker: ``redis.url``; on a Redis Cluster ``redis.broker_url`` (kombu cannot
    use a cluster); with sentinels kombu's ``sentinel://`` form, one per sentinel, each with
    the master's credentials and database from ``redis.url`` (kombu may move on to any)."""
    conf = settings.redis
    if conf.cluster:
        return conf.broker_url
    if not conf.sentinels:
        return conf.url
    parts = urlsplit(conf.url)
    auth = parts.netloc.rpartition("@")[0]
    prefix = f"{auth}@" if auth else ""
    db = parts.path.strip("/") or "0"
    return ";".join(f"sentinel://{prefix}{address}/{db}" for address in conf.sentinels)


def broker_config(settings: Settings, *, timeout: float = SENTINEL_TIMEOUT) -> dict[str, Any]:
    """The Celery settings every app of ours (worker, beat, Flower, web triggers) takes for
    its broker: ``broker_url``, and with sentinels the master's name, the sentinels' own
    password and TLS in the transport options (asked within ``timeout``), and TLS to the
    master (``rediss://``)."""
    config = message_config()
    config["broker_url"] = broker_url(settings)
    conf = settings.redis
    if not conf.sentinels:
        return config
    from .store.connection import master_options, sentinel_options

    waits = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    sentinel_kwargs = sentinel_options(settings, waits)
    config["broker_transport_options"].update(
        master_name=conf.master_name, sentinel_kwargs=sentinel_kwargs
    )
    master = master_options(settings)
    if master.pop("ssl", False):
        tls = {k: v for k, v in master.items() if k.startswith("ssl_")}
        config["broker_use_ssl"] = tls or {"ssl_cert_reqs": "required"}
    return config


def trigger_app(settings: Settings) -> Celery:
    """A task-less Celery app for sending triggers from web requests: one attempt, bounded
    waits. ``broker_connection_timeout`` bounds only kombu's connection retries; a broker that
    accepts the connection and never answers is bounded by the socket timeouts alone (kombu
    leaves them unset, i.e. waits forever). The beat tick starts a missed delivery anyway."""
    from celery import Celery

    timeout = settings.redis.socket_timeout
    config = broker_config(settings, timeout=timeout)
    app = Celery("tracking_worker.producer", broker=config.pop("broker_url"), set_as_current=False)
    config["broker_transport_options"].update(
        socket_timeout=timeout, socket_connect_timeout=timeout
    )
    app.conf.update(config, task_publish_retry=False, broker_connection_timeout=timeout)
    return app
