"""The web-side entry point: a Tracker validates and enqueues; it never sends HTTP.

One Tracker per configuration. The package-level ``track()`` uses a default one built from the
environment on first use, or the one ``configure()`` made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import redis

from .delivery import claim_size_for
from .producer import Producer
from .scripts import Scripts
from .settings import Settings

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("tracking_worker")


class Tracker:
    """Holds the Redis client, the producer and (lazily) a Celery app for delivery triggers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        timeout = float(settings.redis["socket_timeout"])
        self.client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        providers = settings.build_providers()
        self.producer = Producer(
            self.client,
            Scripts(),
            providers,
            settings.delivery,
            self._trigger,
            key_prefix=settings.redis["key_prefix"],
            claim_sizes={n: claim_size_for(p) for n, p in providers.items()},
        )
        self._celery: Celery | None = None

    def track(self, name: str, **fields: Any) -> str:
        """Validate and enqueue one event; returns its event id."""
        [(event, requested)] = self.producer.validate([{"name": name, **fields}], single=True)
        self.producer.enqueue([(event, requested)])
        return event.event_id

    def track_many(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Validate all, then enqueue all in one round trip; one bad event enqueues none."""
        valid = self.producer.validate(events)
        self.producer.enqueue(valid)
        return [event.event_id for event, _ in valid]

    def _trigger(self, provider: str) -> None:
        from .celery_app import create_app, queue_name

        if self._celery is None:
            self._celery = create_app(self.settings)
        try:
            self._celery.send_task(
                "tracking_worker.deliver",
                args=[provider],
                kwargs={"flush": False},
                queue=queue_name(provider),
            )
        except Exception as exc:  # noqa: BLE001 - the beat tick starts it anyway
            log.warning(
                "%s: could not start a delivery now (%s); the next tick will",
                provider,
                type(exc).__name__,
            )

    def close(self) -> None:
        self.client.close()
