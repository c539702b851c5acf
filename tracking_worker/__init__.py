"""tracking_worker: report conversions and analytics events without slowing a web request.

``track()`` validates and enqueues in one Redis round trip; Celery workers deliver to Graspil,
TG Analytics, GramPixel, Giosg and VibeTrace with batching, retries and dead letters.
``atrack()`` does the same for asyncio code without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigurationError,
    Drop,
    PartlyEnqueued,
    PersonError,
    TrackingError,
    TrackingUnavailable,
    ValidationError,
)
from .event_fields import TrackFields
from .events import Event, Normalized
from .producer.tracker import Tracker
from .settings import Settings, load_settings
from .suppression import suppress, suppressions, unsuppress

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:  # Python 3.10: only mypy reads the annotations, and it has typing_extensions
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from celery import Celery

    from .erasure import ForgetReport
    from .producer.async_tracker import AsyncTracker

__all__ = [
    "AsyncTracker",
    "ConfigurationError",
    "Drop",
    "Event",
    "PartlyEnqueued",
    "PersonError",
    "Settings",
    "Tracker",
    "TrackingError",
    "TrackingUnavailable",
    "ValidationError",
    "aclose",
    "atrack",
    "atrack_many",
    "configure",
    "forget",
    "get_async_tracker",
    "get_tracker",
    "install",
    "receipt",
    "set_deferral",
    "set_lookup",
    "suppress",
    "suppressions",
    "track",
    "track_many",
    "unsuppress",
    "use_settings",
]

#: Given the enqueue step of a validated ``track()`` call, run it later (e.g. when the current
#: database transaction commits) and return True, or return False to have it run now.
Deferral = Callable[[Callable[[], None]], bool]

#: The Tracker for the code running now (e.g. the current web app's), or None for the default.
Lookup = Callable[[], Tracker | None]


class _Default:
    """The one process-wide Tracker behind ``track()``; replaced only by ``configure()`` and
    ``use_settings()``. Framework integrations set ``load``, ``defer`` and ``lookup``."""

    lock = threading.Lock()
    tracker: Tracker | None = None
    #: Where the default Tracker's settings come from when it is first needed.
    load: Callable[[], Settings] = load_settings
    defer: Deferral | None = None
    lookup: Lookup | None = None
    #: One AsyncTracker per event loop (its connections belong to that loop).
    async_trackers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncTracker] = (
        weakref.WeakKeyDictionary()
    )


def configure(settings: Settings | None = None, **overrides: Any) -> Tracker:
    """Set the settings ``track()`` uses: a Settings object, or sections merged over the
    environment's (``configure(providers={"graspil": {...}}, delivery={...})``)."""
    tracker = Tracker(settings or load_settings(overrides))
    _replace(tracker)
    return tracker


def use_settings(load: Callable[[], Settings] | None) -> None:
    """Build the default Tracker from ``load()`` when it is next needed (None: from the
    environment, the default). For integrations whose settings live elsewhere (Django's
    ``settings.TRACKING_WORKER``): a bad configuration then raises ConfigurationError, naming
    the key, at the first ``track()`` rather than silently falling back to the environment."""
    _Default.load = load or load_settings
    _replace(None)


def _replace(tracker: Tracker | None) -> None:
    with _Default.lock:
        old, _Default.tracker = _Default.tracker, tracker
    if old is not None:
        old.close()


def _swap_default(tracker: Tracker | None) -> Tracker | None:
    """Put ``tracker`` in as the default and return the one it displaces, unclosed:
    ``tracking_worker.testing.capture()`` puts that one back when it ends."""
    with _Default.lock:
        old, _Default.tracker = _Default.tracker, tracker
    return old


def _default_settings() -> Settings:
    """The settings the default Tracker has, or would be built from now."""
    current = _Default.tracker
    return current.settings if current is not None else _Default.load()


def get_tracker() -> Tracker:
    """The Tracker ``track()`` uses here: the one an integration's lookup names (Flask: the
    current app's), else the default, built on first use (from the environment unless an
    integration said otherwise through ``use_settings``)."""
    lookup = _Default.lookup
    if lookup is not None and (current := lookup()) is not None:
        return current
    with _Default.lock:
        if _Default.tracker is None:
            _Default.tracker = Tracker(_Default.load())
        return _Default.tracker


def receipt(event_id: str) -> dict[str, dict[str, Any]]:
    """Where one event stands with each configured provider: a dict keyed by provider, each
    with ``state`` (pending, in_flight, retry, delivered, dead, skipped; ``dry_run``: a
    dry-run worker rendered it instead of sending), ``attempts`` (sends made so far),
    ``updated_at`` (seconds) and, for a retry, ``error``, when dead, ``reason``.
    {} for an unknown id, or one whose last change is older than ``delivery.receipts_ttl``.

    Receipts are written when a worker settles an event; one in flight is found in the batches
    workers hold leases on, a pending one by reading the provider's pending list (in chunks;
    long when the backlog is). With receipts off (``receipts_ttl = 0``) only pending and
    in-flight events are found, the other providers ``unknown``.
    Raises StoreError when Redis cannot answer."""
    from .store.receipts import receipt_of

    tracker = get_tracker()
    return receipt_of(tracker.client, tracker.settings, event_id)


def forget(
    *,
    telegram_id: int | Iterable[int] | None = None,
    email: str | Iterable[str] | None = None,
    user_id: str | int | Iterable[str | int] | None = None,
    visitor_id: str | Iterable[str] | None = None,
    settings: Settings | None = None,
    suppress: bool = False,
) -> ForgetReport:
    """Remove one person's events (any event holding any identifier given; e-mails compared
    trimmed, ASCII letters in any case) from every configured provider's pending list, retry
    and leased batches, parked lists, dead letters and their receipts, and from this host's
    spool and quarantine files. Returns what was removed, place by place.

    Safe while workers run: none of the events is sent after it returns (one a worker was
    sending may have gone before). Repeating it removes nothing more. Events already delivered
    are the providers' (README, "Personal data"). ``settings``: default, ``get_tracker()``'s.
    ``suppress``: first put the person on the suppression list (``suppress()``), so what is
    tracked of them from now on is dropped at the door.
    Raises PersonError when no identifier is given, StoreError when Redis cannot answer."""
    from .erasure import forget_person
    from .people import each_members
    from .person import Person
    from .store.connection import worker_client
    from .store.suppression import Suppressions

    person = Person.of(telegram_id=telegram_id, email=email, user_id=user_id, visitor_id=visitor_id)
    chosen = settings or get_tracker().settings
    client = worker_client(chosen)
    try:
        if suppress:
            given = {"telegram_id": telegram_id, "email": email, "user_id": user_id}
            raw = {**given, "visitor_id": visitor_id}
            many = {k: _values(v) for k, v in raw.items() if v is not None}
            Suppressions(client, chosen).add(each_members(many))
        return forget_person(person, chosen, client)
    finally:
        client.close()


def _values(value: object) -> list[object]:
    """One value or several, as forget() takes each identifier."""
    if isinstance(value, (str, int)):
        return [value]
    return list(value) if isinstance(value, Iterable) else [value]


def set_deferral(defer: Deferral | None) -> Deferral | None:
    """Let a framework integration hold back ``track()``'s enqueue step (the Django one: until
    the transaction commits). Validation still happens at once. Returns the previous hook.
    The core imports no framework: the integration registers this callable."""
    previous, _Default.defer = _Default.defer, defer
    return previous


def set_lookup(lookup: Lookup | None) -> Lookup | None:
    """Let a framework integration choose the Tracker for the code running now (the Flask one:
    the current app's, so two apps in one process each keep their own Redis and providers);
    when the lookup returns None, or none is set, ``track()`` uses the default. Returns the
    previous lookup."""
    previous, _Default.lookup = _Default.lookup, lookup
    return previous


def track(name: str, *, on_commit: bool = True, **fields: Unpack[TrackFields]) -> str:
    """Validate and enqueue one event for every configured provider that can take it.

    Returns the event id (a new UUID4 unless given). Raises ValidationError naming each bad
    field, with nothing enqueued. Under an integration that defers (Django, inside
    ``transaction.atomic()``) the event is enqueued when the transaction commits, and never if
    it rolls back; ``on_commit=False`` enqueues at once anyway.
    """
    given = _given(fields, "track")
    tracker = get_tracker()
    defer = _Default.defer
    if defer is None or not on_commit:
        return tracker.track(name, **given)
    valid = tracker.producer.validate([{"name": name, **given}], single=True)
    _enqueue_or_defer(tracker, valid, defer)
    return valid[0].event.event_id


def track_many(events: Iterable[Mapping[str, Any]], *, on_commit: bool = True) -> list[str]:
    """Validate every event, then enqueue them all in one round trip (all or nothing);
    ``on_commit`` as for ``track()``."""
    tracker = get_tracker()
    defer = _Default.defer
    if defer is None or not on_commit:
        return tracker.track_many(events)
    valid = tracker.producer.validate(events)
    _enqueue_or_defer(tracker, valid, defer)
    return [item.event.event_id for item in valid]


def _enqueue_or_defer(tracker: Tracker, valid: list[Normalized], defer: Deferral) -> None:
    """The validated events, with their ids and times fixed now, go to Redis when the hook
    says (or now, when it declines)."""

    def enqueue() -> None:
        tracker.enqueue(valid)

    if not defer(enqueue):
        enqueue()


async def atrack(name: str, **fields: Unpack[TrackFields]) -> str:
    """``track()`` for asyncio code: the same validation, routing, Lua and spool fallback over
    redis.asyncio, never blocking the event loop. Uses this loop's AsyncTracker, built on
    ``get_tracker()``'s settings."""
    given = _given(fields, "atrack")
    return await get_async_tracker().track(name, **given)


async def atrack_many(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """``track_many()`` for asyncio code (all or nothing, one round trip)."""
    return await get_async_tracker().track_many(events)


async def aclose() -> None:
    """Close this event loop's AsyncTracker (its Redis connections, pending side work): call it
    at shutdown, e.g. ``dispatcher.shutdown.register(tracking_worker.aclose)``."""
    loop = asyncio.get_running_loop()
    with _Default.lock:
        tracker = _Default.async_trackers.pop(loop, None)
    if tracker is not None:
        await tracker.aclose()


def get_async_tracker() -> AsyncTracker:
    """The running event loop's AsyncTracker, on ``get_tracker()``'s settings: built on first
    use, rebuilt when that Tracker is another since (``configure()``, another Flask app)."""
    from .producer.async_tracker import AsyncTracker

    loop = asyncio.get_running_loop()
    tracker = get_tracker()
    with _Default.lock:
        current = _Default.async_trackers.get(loop)
        if current is not None and current.tracker is tracker:
            return current
        _Default.async_trackers[loop] = fresh = AsyncTracker(tracker=tracker)
    if current is not None:  # built on settings since replaced: let it finish, then close
        current.close_later()
    return fresh


#: The keywords ``track()`` and ``atrack()`` take besides ``name`` (and track's ``on_commit``).
_KEYWORDS = TrackFields.__optional_keys__


def _given(fields: TrackFields, caller: str) -> dict[str, Any]:
    """The keyword arguments a caller gave (None means not given; any iterable of providers
    becomes a list). An unknown keyword is the TypeError Python raises for a fixed signature,
    not a validation error: it is a mistake in the code, which mypy also reports."""
    if not fields.keys() <= _KEYWORDS:
        unknown = next(k for k in fields if k not in _KEYWORDS)
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown!r}")
    given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if "providers" in given:
        given["providers"] = list(given["providers"])
    return given


def install(app: Celery, settings: Settings | None = None, *, flask_app: Any = None) -> list[str]:
    """Run our delivery in your own Celery app: registers our tasks, queues, the tick (in your
    beat's process) and each worker node's presence, without touching your serializer, routes,
    schedule or other settings (see ``worker/install.py``).
    Settings default to your web side's: ``settings.TRACKING_WORKER`` in a Django project,
    ``flask_app.config["TRACKING_WORKER"]`` when given, else the environment's. Returns the
    queue names your workers must consume."""
    from .worker.install import install as install_into

    return install_into(app, settings, flask_app=flask_app)


def __getattr__(name: str) -> Any:
    # ``celery -A tracking_worker`` looks for ``app``; build it only when asked, so web
    # processes that only call track() never construct a worker app.
    if name in ("app", "celery"):
        from .worker.app import default_app

        return default_app()
    if name == "AsyncTracker":
        from .producer.async_tracker import AsyncTracker

        return AsyncTracker
    raise AttributeError(f"module 'tracking_worker' has no attribute {name!r}")
