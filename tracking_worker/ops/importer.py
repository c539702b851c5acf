"""``tracking-worker import``: backfill events from a JSON Lines file.

Every line is validated before anything is enqueued, so a file with a typo on line 90,000
does not leave 89,999 events half-imported; the events then go to Redis a chunk per round
trip. Validation runs once, spread over the cores: the normalized events it produces are
what gets enqueued (``track_many`` would validate each chunk a second time, doubling the cost
of a backfill whose cost is mostly validation).

An import can be run again: a line without an ``event_id`` gets one made from the file's
bytes and its line number (``line_ids``), given as the caller's id, so the providers'
dedupe (``producer.dedupe_ttl``) refuses what a first run enqueued and a second run of the
same file enqueues only what is missing.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path
from typing import Any

from ..errors import TrackingUnavailable, ValidationError
from ..events import Normalized
from ..producer.enqueue import Producer
from ..producer.tracker import Tracker
from ..store.codec import EVENT_ARGS, Arg
from ..store.intake import Route
from .pacing import Pacer

CHUNK = 1000
#: Invalid lines described one by one; the rest are counted.
SHOWN_ERRORS = 20

Progress = Callable[[int], None]
#: Asked to stop (Ctrl-C): the import ends between two chunks.
Stop = Callable[[], bool]


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
    """What the enqueue did, counted per event (see ``_present``)."""

    #: Events some provider took (or whose part was spooled for it).
    enqueued: int = 0
    #: Events every provider they were routed to had already (a run before this one).
    present: int = 0
    #: Events whose part for some provider failed (a broken key): spooled for that provider.
    spooled: int = 0
    #: Events of suppressed people (``tracking-worker suppress``): dropped, not enqueued.
    suppressed: int = 0
    #: The line of the last event handled; 0 before the first chunk.
    last_line: int = 0
    #: Asked to stop before every event was handled.
    stopped: bool = False


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line; a UTF-8 byte order mark is skipped."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, 1):
            if text.strip():
                yield number, text


def line_ids(path: Path) -> str:
    """What the ids of a file's lines start with: ``import:`` and a hash of its bytes; line 7
    of the file is ``import:<hash>:7``. The same file gives the same ids in every run; an
    edited file is another file, its ids all new."""
    digest = blake2b(digest_size=10)  # 80 bits: no two files share one
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return f"import:{digest.hexdigest()}:"


def validate(
    tracker: Tracker,
    path: Path,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    stop: Stop | None = None,
) -> Validated | None:
    """Parse and validate every line (``Producer.validate``), ``CHUNK`` lines per call; on
    several cores, in forked worker processes (validation is pure CPU: ~50 µs an event). The
    workers only parse and validate: no lock a thread of the parent (a progress bar) may hold
    at the fork is ever taken in them, and they ignore Ctrl-C (the parent decides). A line
    without an event id gets its ``line_ids`` one. None when ``stop`` asked meanwhile."""
    global _PRODUCER
    result = Validated()
    chunks = _chunks(read_lines(path))
    check = functools.partial(_check, line_ids(path))
    workers = _workers() if workers is None else workers
    _PRODUCER = tracker.producer
    try:
        if workers > 1:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_ignore_interrupts
            ) as pool:
                done = _gather(pool.map(check, chunks), result, progress, stop)
                pool.shutdown(cancel_futures=True)
        else:
            done = _gather(map(check, chunks), result, progress, stop)
    finally:
        _PRODUCER = None
    if not done:
        return None
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


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _gather(
    checked: Iterator[Checked], result: Validated, progress: Progress | None, stop: Stop | None
) -> bool:
    """Collect the chunks' results in order; False when asked to stop first."""
    for events, lines, errors in checked:
        if stop is not None and stop():
            return False
        result.events += events
        result.lines += lines
        result.errors += errors
        if progress is not None:
            progress(len(lines) + len(errors))
    return True


def _check(ids: str, batch: list[tuple[int, str]]) -> Checked:
    """One chunk: JSON, then the producer's validation; the valid lines of a chunk with bad
    ones are validated again without them (the producer refuses a list as a whole). An object
    without an event id gets ``ids`` and its line number as one."""
    producer = _PRODUCER
    assert producer is not None
    parsed: list[tuple[int, Any]] = []
    errors: list[LineError] = []
    for number, text in batch:
        try:
            item = json.loads(text)
        except ValueError as exc:
            errors.append(LineError(number, {"line": [f"Not JSON: {exc}."]}))
            continue
        if type(item) is dict and item.get("event_id") is None:
            item["event_id"] = f"{ids}{number}"
        parsed.append((number, item))
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
    stop: Stop | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Imported:
    """Enqueue in chunks (one round trip each), at most ``rate`` events per second, until
    done or ``stop`` asks (checked between chunks; ``sleep`` is the pacer's, which a stop
    should end). A chunk Redis refuses outright stops the import (TrackingUnavailable names
    the first line not enqueued); a provider whose part alone failed gets it through the
    spool."""
    pacer = Pacer(rate) if sleep is None else Pacer(rate, sleep=sleep)
    size = pacer.chunk(CHUNK)
    done = Imported()
    events = validated.events
    for start in range(0, len(events), size):
        if stop is not None and stop():
            done.stopped = True
            break
        chunk = events[start : start + size]
        try:
            applied = tracker.enqueue_now(chunk)
        except TrackingUnavailable as exc:
            line = validated.lines[start]
            raise TrackingUnavailable(
                f"{exc}; {done.enqueued} event(s) enqueued ({done.present} already present), "
                f"stopped before line {line}; run the same command again to continue"
            ) from None
        if applied.failed:
            tracker.spool.append(applied.failed)
            done.spooled += len(applied.failed)
        dropped = sum(1 for item in chunk if item.event.event_id in applied.suppressed_ids)
        present = _present(chunk, applied.routes, applied.deduplicated, applied.suppressed_ids)
        done.present += present
        done.suppressed += dropped
        done.enqueued += len(chunk) - present - dropped
        done.last_line = validated.lines[start + len(chunk) - 1]
        if progress is not None:
            progress(len(chunk))
        pacer.wait(done.enqueued + done.present)
    return done


def _present(
    chunk: list[Normalized],
    routes: dict[str, Route],
    deduped: dict[str, int],
    suppressed: frozenset[str] = frozenset(),
) -> int:
    """How many events of a chunk every provider they were routed to had already. Redis
    answers a count per provider, not which events: the first ``deduped[p]`` of the events
    routed to ``p`` are taken to be those it had. That is exact for what an import leaves
    behind when stopped or killed (each chunk is one transaction, so every provider has the
    same lines, those before some line); for ids repeated within a file the count is right
    when every event goes to the same providers. An event routed nowhere is not present.
    Every imported event carries its id as the caller's (``line_ids``), so a route's events
    are known by it. A suppressed person's events were dropped before any dedupe: they are
    left out of the count (and are not present)."""
    had: dict[Arg, bool] = {}
    for name, route in routes.items():
        first = deduped.get(name, 0)
        ids = [i for i in route.events[1::EVENT_ARGS] if i not in suppressed]
        for index, event_id in enumerate(ids):
            had[event_id] = had.get(event_id, True) and index < first
    return sum(
        1
        for item in chunk
        if item.event.event_id not in suppressed and had.get(item.event.event_id, False)
    )


def count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar's total (a fast pass in binary)."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
