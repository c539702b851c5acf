"""``tracking-worker import``: backfill events from a JSON Lines file.

Every line is validated before anything is enqueued, so a file with a typo on line 90,000
does not leave 89,999 events half-imported; the events then go to Redis a chunk per round
trip. Validation runs once, spread over the cores: the normalized events it produces are
what gets enqueued (``track_many`` would validate each chunk a second time, doubling the cost
of a backfill whose cost is mostly validation).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TrackingUnavailable, ValidationError
from ..events import Normalized
from ..producer.enqueue import Producer
from ..producer.tracker import Tracker
from .pacing import Pacer

CHUNK = 1000
#: Invalid lines described one by one; the rest are counted.
SHOWN_ERRORS = 20

Progress = Callable[[int], None]


@dataclass(frozen=True)
class LineError:
    line: int
    errors: dict[str, list[str]]

    def __str__(self) -> str:
        fields = "; ".join(
            f"{name}: {' '.join(msgs)}" for name, msgs in sorted(self.errors.items())
        )
        return f"line {self.line}: {fields}"


@dataclass
class Validated:
    events: list[Normalized] = field(default_factory=list)
    #: The line number of each event in ``events``.
    lines: list[int] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


@dataclass
class Imported:
    enqueued: int = 0
    #: Events whose part for some provider failed (a broken key): spooled for that provider.
    spooled: int = 0


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, 1):
            if text.strip():
                yield number, text


def validate(
    tracker: Tracker, path: Path, progress: Progress | None = None, *, workers: int | None = None
) -> Validated:
    """Parse and validate every line (``Producer.validate``), ``CHUNK`` lines per call; on
    several cores, in forked worker processes (validation is pure CPU: ~50 µs an event). The
    workers only parse and validate: no lock a thread of the parent (a progress bar) may hold
    at the fork is ever taken in them."""
    global _PRODUCER
    result = Validated()
    chunks = _chunks(read_lines(path))
    workers = _workers() if workers is None else workers
    _PRODUCER = tracker.producer
    try:
        if workers > 1:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                _gather(pool.map(_check, chunks), result, progress)
        else:
            _gather(map(_check, chunks), result, progress)
    finally:
        _PRODUCER = None
    result.errors.sort(key=lambda e: e.line)
    return result


#: The producer a forked worker validates with (inherited from the parent, never pickled).
_PRODUCER: Producer | None = None
Checked = tuple[list[Normalized], list[int], list[LineError]]


def _workers() -> int:
    """One per core this process may use (validation is CPU-bound; measured on two cores:
    6.2 s for 100,000 lines with two workers, 7.9 s with one)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


def _chunks(lines: Iterator[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _gather(checked: Iterator[Checked], result: Validated, progress: Progress | None) -> None:
    for events, lines, errors in checked:
        result.events += events
        result.lines += lines
        result.errors += errors
        if progress is not None:
            progress(len(lines) + len(errors))


def _check(batch: list[tuple[int, str]]) -> Checked:
    """One chunk: JSON, then the producer's validation; the valid lines of a chunk with bad
    ones are validated again without them (the producer refuses a list as a whole)."""
    producer = _PRODUCER
    assert producer is not None
    parsed: list[tuple[int, Any]] = []
    errors: list[LineError] = []
    for number, text in batch:
        try:
            parsed.append((number, json.loads(text)))
        except ValueError as exc:
            errors.append(LineError(number, {"line": [f"Not JSON: {exc}."]}))
    try:
        valid = producer.validate([item for _, item in parsed])
    except ValidationError as exc:
        bad = _by_index(exc.errors)
        errors += [LineError(parsed[i][0], found) for i, found in sorted(bad.items())]
        parsed = [pair for i, pair in enumerate(parsed) if i not in bad]
        valid = producer.validate([item for _, item in parsed]) if parsed else []
    return valid, [number for number, _ in parsed], errors


def _by_index(errors: dict[str, list[str]]) -> dict[int, dict[str, list[str]]]:
    """``{"events.3.currency": [...]}`` as ``{3: {"currency": [...]}}``."""
    found: dict[int, dict[str, list[str]]] = {}
    for key, messages in errors.items():
        _, index, rest = [*key.split(".", 2), "", ""][:3]
        found.setdefault(int(index), {})[rest or "event"] = messages
    return found


def enqueue(
    tracker: Tracker,
    validated: Validated,
    *,
    rate: float | None = None,
    progress: Progress | None = None,
) -> Imported:
    """Enqueue in chunks (one round trip each), at most ``rate`` events per second. A chunk
    Redis refuses outright stops the import (TrackingUnavailable names the first line not
    enqueued); a provider whose part alone failed gets it through the spool."""
    pacer = Pacer(rate)
    size = pacer.chunk(CHUNK)
    done = Imported()
    events = validated.events
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        try:
            failed = tracker.enqueue_now(chunk).failed
        except TrackingUnavailable as exc:
            line = validated.lines[start]
            raise TrackingUnavailable(
                f"{exc}; {done.enqueued} event(s) enqueued, stopped before line {line}"
            ) from None
        if failed:
            tracker.spool.append(failed)
            done.spooled += len(failed)
        done.enqueued += len(chunk)
        if progress is not None:
            progress(len(chunk))
        pacer.wait(done.enqueued)
    return done


def count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar's total (a fast pass in binary)."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
