"""Waiting on conditions with a deadline: the only way tests synchronise."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from tracking_worker.store import codec

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


def enqueue_call(
    raws: Iterable[str],
    *,
    callers: Iterable[str] | None = None,
    max_pending: int = 10**6,
    claim_size: int = 10**6,
    dedupe_ttl: float = 60,
    window: float = 900,
    check: bool = False,
    people: Iterable[bytes] | None = None,
) -> codec.Enqueue:
    """An ``enqueue.lua`` call for these serialized events: each with a fresh id of its own
    (the ids track() generates), or the caller's ids given; ``people``: each event's hashed
    identifiers (``people.event_members``), none by default."""
    raws = list(raws)
    ids = list(callers) if callers is not None else [os.urandom(16).hex() for _ in raws]
    persons = list(people) if people is not None else [b""] * len(raws)
    given = callers is not None
    events = tuple(
        part
        for event_id, raw, person in zip(ids, raws, persons, strict=True)
        for part in (codec.id_key(event_id), event_id if given and event_id else "", raw, person)
    )
    return codec.Enqueue(max_pending, claim_size, 10_000, 0, dedupe_ttl, window, check, "", events)
