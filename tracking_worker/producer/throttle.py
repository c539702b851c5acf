"""Warnings that repeat on every web request, let through at most once per period."""

from __future__ import annotations

import time
from collections.abc import Callable


class WarningThrottle:
    """``throttle(topic)`` is True at most once per ``seconds`` for each topic."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: dict[str, float] = {}

    def __call__(self, topic: str) -> bool:
        now = self.clock()
        if now - self._last.get(topic, float("-inf")) < self.seconds:
            return False
        self._last[topic] = now
        return True
