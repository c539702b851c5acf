"""Isolating the bad events of a rejected batch, as a pure function of a send function."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tracking_worker.delivery.bisect import Attempt, Item, bisect
from tracking_worker.events import Event
from tracking_worker.outcomes import Delivered, MappingFailed, Reject, Retry


def items(n: int) -> list[Item]:
    return [(str(i), Event(str(i), "purchase", "2024-01-01T00:00:00.000+00:00")) for i in range(n)]


class Provider:
    """Rejects a whole request when any of ``bad`` is in it, as Graspil does."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.sent: list[list[str]] = []

    def __call__(self, chunk: Sequence[Item]) -> Attempt:
        ids = [raw for raw, _ in chunk]
        self.sent.append(ids)
        if self.bad & set(ids):
            return Attempt(Reject("bad item", 400))
        return Attempt(Delivered())


@pytest.mark.parametrize(
    ("size", "bad", "requests"),
    [
        (1, set(), 1),
        (100, set(), 1),
        (1, {"0"}, 1),
        (8, {"3"}, 7),  # 1 + 2 + 2 + 2: a path of halves down to the culprit
        (100, {"0", "99"}, 25),
        (5, {"0", "1", "2", "3", "4"}, 9),  # every event alone in the end
    ],
)
def test_only_the_culprits_are_rejected(size: int, bad: set[str], requests: int) -> None:
    provider = Provider(bad)
    found = bisect(items(size), provider)
    outcomes = dict(found.results)
    assert len(found.results) == size  # every event exactly once
    assert {raw for raw, o in outcomes.items() if isinstance(o, Reject)} == bad
    assert all(isinstance(o, Delivered) for raw, o in outcomes.items() if raw not in bad)
    assert found.requests == requests == len(provider.sent)
    assert all(len(chunk) == 1 for chunk in provider.sent if set(chunk) <= bad and len(bad) < size)


def test_a_retry_is_not_split() -> None:
    found = bisect(items(10), lambda chunk: Attempt(Retry("503", 503)))
    assert found.requests == 1
    assert all(isinstance(o, Retry) for _, o in found.results)


def test_a_mapping_failure_splits_without_counting_a_request() -> None:
    def attempt(chunk: Sequence[Item]) -> Attempt:
        if any(raw == "2" for raw, _ in chunk):
            return Attempt(MappingFailed("cannot map"), 0)
        return Attempt(Delivered())

    found = bisect(items(4), attempt)
    assert [raw for raw, o in found.results if isinstance(o, MappingFailed)] == ["2"]
    assert found.requests == 2  # [0, 1] and [3] were sent; the tries holding "2" were not
