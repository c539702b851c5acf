"""tracking_worker: report conversions and analytics events without slowing a web request.

``track()`` validates and enqueues in one Redis round trip; Celery workers deliver to Graspil,
TG Analytics, GramPixel, Giosg and VibeTrace with batching, retries and dead letters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .errors import (
    ConfigurationError,
    TrackingError,
    TrackingUnavailable,
    ValidationError,
)
from .events import Event
from .producer.tracker import Tracker
from .settings import Settings, load_settings

__all__ = [
    "ConfigurationError",
    "Event",
    "Settings",
    "Tracker",
    "TrackingError",
    "TrackingUnavailable",
    "ValidationError",
    "configure",
    "get_tracker",
    "track",
    "track_many",
]


class _Default:
    """The one process-wide Tracker behind ``track()``; replaced only by ``configure()``."""

    lock = threading.Lock()
    tracker: Tracker | None = None


def configure(settings: Settings | None = None, **overrides: Any) -> Tracker:
    """Set the settings ``track()`` uses: a Settings object, or sections merged over the
    environment's (``configure(providers={"graspil": {...}}, delivery={...})``)."""
    tracker = Tracker(settings or load_settings(overrides))
    with _Default.lock:
        old, _Default.tracker = _Default.tracker, tracker
    if old is not None:
        old.close()
    return tracker


def get_tracker() -> Tracker:
    """The default Tracker, built from the environment on first use."""
    with _Default.lock:
        if _Default.tracker is None:
            _Default.tracker = Tracker(load_settings())
        return _Default.tracker


def track(
    name: str,
    *,
    telegram_id: int | None = None,
    email: str | None = None,
    user_id: str | int | None = None,
    visitor_id: str | None = None,
    session_id: str | None = None,
    value: float | None = None,
    currency: str | None = None,
    order_id: str | int | None = None,
    occurred_at: datetime | str | None = None,
    properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    providers: Iterable[str] | None = None,
) -> str:
    """Validate and enqueue one event for every configured provider that can take it.

    Returns the event id (a new UUID4 unless given). Raises ValidationError naming each bad
    field, with nothing enqueued.
    """
    fields = {
        "telegram_id": telegram_id,
        "email": email,
        "user_id": user_id,
        "visitor_id": visitor_id,
        "session_id": session_id,
        "value": value,
        "currency": currency,
        "order_id": order_id,
        "occurred_at": occurred_at,
        "properties": properties,
        "context": context,
        "event_id": event_id,
        "providers": list(providers) if providers is not None else None,
    }
    return get_tracker().track(name, **{k: v for k, v in fields.items() if v is not None})


def track_many(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Validate every event, then enqueue them all in one round trip (all or nothing)."""
    return get_tracker().track_many(events)


def __getattr__(name: str) -> Any:
    # ``celery -A tracking_worker`` looks for ``app``; build it only when asked, so web
    # processes that only call track() never construct a worker app.
    if name in ("app", "celery"):
        from .worker.app import default_app

        return default_app()
    raise AttributeError(f"module 'tracking_worker' has no attribute {name!r}")
