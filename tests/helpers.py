"""Waiting on conditions with a deadline: the only way tests synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, message: str = ""
) -> T:
    """Poll until ``condition()`` is truthy and return it; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    last: T = condition()
    while not last:
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {message or condition}")
        time.sleep(interval)  # polling interval of a deadline-bounded wait
        last = condition()
    return last


def pause_until(deadline: float) -> None:
    """Hold until a moment of the test's own schedule (pacing a producer, choosing when to
    inject a fault). Never used to wait for the system: that is ``wait_for``."""
    time.sleep(max(0.0, deadline - time.monotonic()))
