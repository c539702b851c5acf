"""Which real API path belongs to which provider emulator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Emulator
from .giosg import Giosg
from .grampixel import GramPixel
from .graspil import Graspil
from .tganalytics import TGAnalytics
from .vibetrace import VibeTrace


@dataclass(frozen=True)
class Route:
    """A path pattern (named groups become path parameters) served by one emulator."""

    pattern: re.Pattern[str]
    emulator: Emulator


@dataclass(frozen=True)
class Match:
    emulator: Emulator
    params: dict[str, str]


class Router:
    """Finds the emulator for a path, and an emulator by provider name."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = tuple(routes)
        self._by_name = {route.emulator.name: route.emulator for route in routes}

    def match(self, path: str) -> Match | None:
        for route in self._routes:
            found = route.pattern.match(path)
            if found is not None:
                return Match(route.emulator, found.groupdict())
        return None

    def emulator(self, provider: str) -> Emulator:
        return self._by_name[provider]


def default_router() -> Router:
    """The real paths of the five providers (trailing slash optional)."""
    graspil, tga, grampixel = Graspil(), TGAnalytics(), GramPixel()
    giosg, vibetrace = Giosg(), VibeTrace()
    return Router(
        [
            Route(re.compile(r"^/v1/send-target/?$"), graspil),
            Route(re.compile(r"^/events/?$"), tga),
            Route(re.compile(r"^(?:/api)?/v1/events/custom/?$"), grampixel),
            Route(
                re.compile(
                    r"^/api/v5/orgs/(?P<organization_id>[^/]+)/goals/(?P<goal_id>[^/]+)/matches/?$"
                ),
                giosg,
            ),
            Route(re.compile(r"^/v1/event/?$"), vibetrace),
        ]
    )
