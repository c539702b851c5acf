"""Isolating the bad events of a rejected request by splitting it in halves.

A batching provider may refuse a whole request for one bad item (Graspil, TG Analytics), so a
rejected multi-event chunk is split and each half sent again, down to single events: the good
ones are delivered and only the culprits are dead-lettered. Pure: sending is a function given in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..events import Event
from ..outcomes import Configuration, Outcome, Reject

#: A serialized event and its parsed form.
Item = tuple[str, Event]


@dataclass(frozen=True)
class Attempt:
    """One try at a chunk: what it came to, and whether a request went out for it."""

    outcome: Outcome
    requests: int = 1


@dataclass
class Round:
    """What sending some events produced, event by event."""

    results: list[tuple[str, Outcome]] = field(default_factory=list)
    requests: int = 0
    #: The batch's lease ran out while sending: its round says nothing about the provider.
    lease_lost: bool = False
    #: Each request sent: its status class and how long it took (for the latency metric).
    timings: list[tuple[str, float]] = field(default_factory=list)

    def add(self, other: Round) -> None:
        self.results += other.results
        self.requests += other.requests


def bisect(chunk: Sequence[Item], attempt: Callable[[Sequence[Item]], Attempt]) -> Round:
    """Try ``chunk``; a Reject of several events tries each half again, recursively, and so
    does a configuration answer about one event name's setting that the chunk's several names
    leave unnamed. Every event comes back with exactly one outcome; the requests of every try
    are counted."""
    tried = attempt(chunk)
    if _splits(tried.outcome) and len(chunk) > 1:
        middle = len(chunk) // 2
        found = Round(requests=tried.requests)
        found.add(bisect(chunk[:middle], attempt))
        found.add(bisect(chunk[middle:], attempt))
        return found
    return Round([(raw, tried.outcome) for raw, _ in chunk], tried.requests)


def _splits(outcome: Outcome) -> bool:
    if isinstance(outcome, Configuration):
        return outcome.per_route and outcome.route is None
    return isinstance(outcome, Reject)
