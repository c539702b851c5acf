"""Which real API path belongs to which provider emulator (each declares its ``routes``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Emulator
from .registry import emulator_classes


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

    def __init__(self, emulators: Sequence[Emulator]) -> None:
        self._routes = tuple(
            Route(re.compile(pattern), emulator)
            for emulator in emulators
            for pattern in emulator.routes
        )
        self._by_name = {emulator.name: emulator for emulator in emulators}

    def match(self, path: str) -> Match | None:
        for route in self._routes:
            found = route.pattern.match(path)
            if found is not None:
                return Match(route.emulator, found.groupdict())
        return None

    def emulator(self, provider: str) -> Emulator:
        return self._by_name[provider]


def default_router() -> Router:
    """A fresh instance of every emulator, routes tried in provider order."""
    return Router([cls() for cls in emulator_classes()])
