"""``capture()``: what ``track()``, ``track_many()`` and ``atrack()`` were called with, taken
in-process with no Redis, each event with the request every provider would get.

The calls run as in production (validation, the Django integration's wait for the commit, the
Flask app's own tracker) up to the step that would enqueue; there every Tracker hands its
events to the capture instead (``Tracker.intercept``), which renders each with the providers
of the tracker that took it (``render.Renderer``, the code behind ``tracking-worker render``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import tracking_worker

from ..events import Event, Normalized
from ..producer.tracker import Intercept, Tracker
from ..render import RenderedRequest, Renderer
from ..settings import Settings, build_settings, load_settings

if TYPE_CHECKING:
    from .deliver import Delivery
    from .server import TrackingSandbox

#: Settings given to ``capture()``: a Settings object, or sections as ``configure()`` takes them.
Given = Settings | Mapping[str, Any] | None


@dataclass(frozen=True)
class Captured:
    """One tracked event: ``event`` as Redis would hold it (normalized: an id, ``occurred_at``
    in UTC, upper-case currency), and per provider it is routed to, the request it would
    become (secrets masked) or why that provider skips it."""

    name: str
    event_id: str
    event: dict[str, Any]
    requests: Mapping[str, RenderedRequest]
    skipped: Mapping[str, str]
    #: The event as providers map it (what ``deliver`` sends).
    typed: Event = field(repr=False, compare=False)
    #: The providers the call named (``providers=``); empty: every configured one.
    providers: tuple[str, ...] = ()


def dummy_settings() -> Settings:
    """What a capture renders with when the settings in use configure no provider: all five,
    with the sandbox's dummy keys and routes (Graspil targets ``purchase`` 12, ``registration``
    3, ``first_deposit`` 14; Giosg goals for ``purchase`` and ``registration``), at each
    provider's real address. Nothing is ever sent with them."""
    from ..sandbox import provider_settings

    sections = provider_settings("http://sandbox.invalid")
    for section in sections.values():
        del section["base_url"]  # each provider's own default: its real API
    return build_settings({"providers": sections})


class Tracked(Sequence[Captured]):
    """The captured events in call order; a context manager that captures while entered.

    Thread-safe: events tracked from other threads (a live server, a worker thread) are
    captured too, in the order their calls reached the enqueue step.
    """

    def __init__(self, settings: Given = None) -> None:
        self._given = settings
        self._items: list[Captured] = []
        self._lock = threading.Lock()
        #: Per tracker seen (kept, so an id is never reused meanwhile): what renders its events.
        self._renderers: dict[int, tuple[Tracker, Renderer]] = {}
        self._dummy: Renderer | None = None
        self._tracker: Tracker | None = None
        self._displaced: Tracker | None = None
        self._previous: Intercept | None = None
        self._active = False

    @overload
    def __getitem__(self, index: int) -> Captured: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Captured]: ...
    def __getitem__(self, index: int | slice) -> Captured | Sequence[Captured]:
        with self._lock:
            return self._items[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __repr__(self) -> str:
        return f"<Tracked {self.names}>"

    @property
    def names(self) -> list[str]:
        """The events' names, in call order."""
        return [captured.name for captured in self]

    def for_provider(self, provider: str) -> list[RenderedRequest]:
        """The requests ``provider`` would get, one per event routed to it, in call order."""
        return [c.requests[provider] for c in self if provider in c.requests]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def deliver(self, target: TrackingSandbox | Settings) -> list[Delivery]:
        """Send every captured event now, in this thread, through the real providers, sender
        and transport, to ``target``'s providers (a ``tracking_sandbox``); see ``deliver``."""
        from .deliver import deliver

        return deliver(list(self), target)

    def __call__(self, tracker: Tracker, valid: list[Normalized]) -> None:
        """The intercept: a Tracker's validated events, at the step that would enqueue them."""
        renderer = self._renderer(tracker)
        captured = [_captured(item, renderer) for item in valid]
        with self._lock:
            self._items += captured

    def _renderer(self, tracker: Tracker) -> Renderer:
        """The tracker's providers; a tracker configuring none (a Flask app whose config names
        no provider) renders with ``dummy_settings``."""
        with self._lock:
            known = self._renderers.get(id(tracker))
            if known is not None:
                return known[1]
            providers = tracker.producer.providers
            if providers:
                renderer = Renderer(providers)
            else:
                self._dummy = self._dummy or Renderer(dummy_settings().build_providers())
                renderer = self._dummy
            self._renderers[id(tracker)] = (tracker, renderer)
            return renderer

    def __enter__(self) -> Tracked:
        if self._active:
            raise RuntimeError("this capture is running already")
        settings = self._settings()
        if self._given is not None or not settings.providers:
            # The default tracker, for the capture's time, is one on these settings: track()
            # then validates against providers that exist (``providers=["graspil"]``).
            self._tracker = Tracker(settings if settings.providers else dummy_settings())
            self._displaced = tracking_worker._swap_default(self._tracker)
        self._previous, Tracker.intercept = Tracker.intercept, self
        self._active = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        Tracker.intercept, self._previous = self._previous, None
        self._active = False
        with self._lock:
            self._renderers.clear()
        ours, self._tracker = self._tracker, None
        if ours is None:
            return
        displaced, self._displaced = self._displaced, None
        current = tracking_worker._swap_default(displaced)
        if current is not ours:  # replaced while capturing (configure(), a Flask app): kept
            tracking_worker._swap_default(current)
            if displaced is not None:
                displaced.close()
        ours.close()

    def _settings(self) -> Settings:
        given = self._given
        if isinstance(given, Settings):
            return given
        if given is not None:
            return load_settings(given)  # sections merged over the environment's
        return tracking_worker._default_settings()


def capture(settings: Given = None) -> Tracked:
    """Capture every ``track()``, ``track_many()`` and ``atrack()`` (any Tracker's) while
    entered: ``with capture() as tracked: ...``. Providers come from the settings in use
    (``configure()``, Django's ``TRACKING_WORKER``, a Flask app's config), or from
    ``settings`` (a Settings object, or sections as ``configure()`` takes them); when those
    configure no provider, from ``dummy_settings()``. Validation errors still raise."""
    return Tracked(settings)


def _captured(item: Normalized, renderer: Renderer) -> Captured:
    event = item.event
    rendering = renderer.render(event, item.providers)
    return Captured(
        event.name,
        event.event_id,
        json.loads(item.raw or event.to_json()),
        rendering.requests,
        rendering.skipped,
        event,
        item.providers,
    )
