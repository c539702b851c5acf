"""The local spool: where ``track()`` puts events while Redis cannot be reached.

JSON lines, fsync'd, in small files: a process appends to its own files only (so concurrent web
workers never interleave lines) and starts a new one every ``max_lines`` events. Draining takes
whole files: it claims one by renaming it, enqueues its events in chunks and deletes it, so a
drain step costs one file however large the spool has grown. Only when ``enqueue`` fails part-way
is the rest of that one file written back, as a new file. A drainer holds a ``flock`` on the file
it claims from before the rename until the file is gone: a claimed file whose lock is free was
left by a crashed drainer (pids would not tell, they are reused after a restart) and the next
drain takes it over; every drain looks each event up in Redis (enqueue.lua's ``check``), so
none is enqueued twice within the idempotency window, none lost. A line without an event (cut
short, not JSON, NaN, wrong shape...) goes to quarantine with where it was and why (see
quarantine.py). Names: ``spool-<pid>-<seq>.jsonl``, claimed ``....<random>-<pid>.draining``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from datetime import datetime, timezone
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any, NoReturn

from ..events import Event, Normalized, format_time
from ..quarantine import QUARANTINE_DIR as QUARANTINE_DIR  # re-exported: spool users import it here
from ..quarantine import QUARANTINE_RAW_BYTES, Quarantine

log = logging.getLogger("tracking_worker.spool")

PREFIX = "spool-"
SUFFIX = ".jsonl"
CLAIMED = ".draining"
#: Events per file: what one drain step of a web request moves at most.
MAX_LINES = 100

Enqueue = Callable[[list[Normalized]], None]


class Spool:
    """The spool directory of one configuration; one instance per Tracker, safe across threads.

    It remembers the file it appends to and how many events that file holds; a fork (new pid)
    starts fresh files, since names carry the pid that appends to them.
    """

    def __init__(self, directory: str | Path, *, max_lines: int = MAX_LINES) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.directory = Path(directory)
        self.quarantine_dir = self.directory / QUARANTINE_DIR
        self.quarantine = Quarantine(self.quarantine_dir)
        self.max_lines = max_lines
        self.quarantined_now = 0  # lines this instance's drains quarantined: see quarantined()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._seq = 0
        self._current: Path | None = None
        self._current_ino = 0
        self._lines = 0
        #: Spool files listed but not yet drained, oldest first.
        self._backlog: deque[str] = deque()

    def append(self, items: Iterable[Normalized]) -> None:
        """Write and fsync; raises OSError when even the disk fails (the caller must know)."""
        lines = [_line(item) for item in items]
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._forget_parent_files()
            while lines:
                fd = self._open_current()
                room = self.max_lines - self._lines
                part, lines = lines[:room], lines[room:]
                try:
                    _write(fd, part)
                    self._lines += len(part)
                except OSError:
                    self._current = None  # in case it ends in half a line: never append to it
                    raise
                finally:
                    os.close(fd)

    def count(self) -> int:
        """Events spooled (lines in every file, claimed ones included)."""
        return sum(_count_lines(self.directory / name) for name in self._names())

    def quarantined(self) -> int:
        """Lines in quarantine, counted from the files: right in any process, the CLI's too."""
        return self.quarantine.count()

    def has_events(self) -> bool:
        """Cheap: stops at the first spool file of the listing."""
        try:
            with os.scandir(self.directory) as entries:
                return any(_is_spool_name(entry.name) for entry in entries)
        except FileNotFoundError:
            return False

    def drain(self, enqueue: Enqueue, *, files: int | None = None, chunk: int = 100) -> int:
        """Enqueue the events of up to ``files`` spool files (all when None), oldest first as
        of the last listing; returns how many. Each file is deleted once its events are
        enqueued; ``enqueue`` raising stops the drain, with the rest of that file kept."""
        done = taken = 0
        while files is None or taken < files:
            claimed = self._claim_next()
            if claimed is None:
                break
            path, handle = claimed
            with handle:  # closing it releases the claim: only once the file is gone
                done += self._drain_file(path, handle, enqueue, chunk)
            taken += 1
        return done

    def _claim_next(self) -> tuple[Path, IO[bytes]] | None:
        """Claim the next file of the last listing, listing again once it is used up: one
        listing serves many drain steps, so a step costs the same however many files wait.
        Names another drainer took meanwhile just fail to claim."""
        for fresh in (False, True):
            if fresh:
                self._backlog = deque(self._names())
            while (name := _pop(self._backlog)) is not None:
                claimed = self._claim(self.directory / name)
                if claimed is not None:
                    return claimed
        return None

    def _names(self) -> list[str]:
        """Spool file names, least recently written first: one listing and one stat per file,
        nothing more, since a web request's drain step pays for it."""
        found: list[tuple[int, str]] = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if _is_spool_name(entry.name):
                        with contextlib.suppress(FileNotFoundError):  # claimed meanwhile
                            found.append((entry.stat().st_mtime_ns, entry.name))
        except FileNotFoundError:
            return []
        return [name for _, name in sorted(found)]

    def _claim(self, path: Path) -> tuple[Path, IO[bytes]] | None:
        """Lock the file, then rename it, and return it still locked: a claimed name is only
        ever seen locked while its drainer lives, so a free lock means a stale claim. A locked
        ``.jsonl`` is being written or claimed: a later listing finds it again."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None  # another drainer took it first
        target = path.with_name(f"{_base(path)}.{uuid.uuid4().hex[:8]}-{os.getpid()}{CLAIMED}")
        owned = False
        try:
            if owned := _lock_now(handle.fileno()) and _same_file(handle.fileno(), path):
                path.rename(target)
        except FileNotFoundError:  # only a drainer of an older version renames without a lock
            owned = False
        finally:
            if not owned:
                handle.close()
        return (target, handle) if owned else None

    def _drain_file(self, path: Path, handle: IO[bytes], enqueue: Enqueue, chunk: int) -> int:
        """Enqueue one claimed file, then delete it; returns how many events went.

        Reads at most ``max_lines`` lines, a chunk of events at a time; bad lines go to
        quarantine before the events read with them are enqueued. Whatever was not enqueued
        (the failed chunk and the lines after it, or what lies beyond ``max_lines`` in a file
        written before files were rotated) is spooled again, as it was, in new files first."""
        bad: list[dict[str, Any]] = []  # bad lines count toward max_lines: bounded work
        events = _events(islice(enumerate(handle, 1), self.max_lines), _base(path) + SUFFIX, bad)
        done = 0
        part: list[Normalized] = []
        try:
            for part in iter(lambda: list(islice(events, chunk)), []):
                self._set_aside(bad)
                enqueue(part)
                done += len(part)
                part = []
        finally:
            self._set_aside(bad)  # if this fails, nothing is respooled: the file is kept whole
            rest = (line.removesuffix(b"\n") for line in handle)  # unparsed, bad ones too
            self._respool(chain(map(_line, part), rest), like=path)
            path.unlink()  # not reached if respooling failed: then the file is kept whole
        return done

    def _set_aside(self, bad: list[dict[str, Any]]) -> None:
        """Append the bad lines read so far to the quarantine, fsync'd, before the events read
        with them are enqueued (or the file is deleted), and count them."""
        if bad:
            self.quarantine.add(bad, _write)
            for record in bad:
                log.error("spool %(file)s line %(line)d quarantined: %(reason)s", record)
            with self._lock:
                self.quarantined_now += len(bad)
            bad.clear()

    def _respool(self, lines: Iterator[bytes], *, like: Path) -> None:
        """Write lines back as new files with ``like``'s mtime, so they stay first in line:
        the next drain step lists the directory afresh to find them."""
        mtime = like.stat().st_mtime_ns
        with self._lock:
            self._forget_parent_files()
            while part := list(islice(lines, self.max_lines)):
                fd, _ = self._create()
                try:
                    _write(fd, part)
                    os.utime(fd, ns=(mtime, mtime))
                finally:
                    os.close(fd)
                self._backlog.clear()

    def _open_current(self) -> int:
        """A locked fd of the file to append to, still under its name: a drainer may have
        claimed (renamed) it since the last append, then a new file is started."""
        while True:
            if self._current is None or self._lines >= self.max_lines:
                fd, self._current = self._create()
                self._current_ino, self._lines = os.fstat(fd).st_ino, 0
                return fd
            reopened = _open_locked(self._current, self._current_ino)
            if reopened is not None:
                return reopened
            self._current = None

    def _create(self) -> tuple[int, Path]:
        """A new file of this process, locked and still under its name (a drainer may claim a
        file the moment it exists: then it is empty, and we take another name)."""
        while True:
            self._seq += 1
            path = self.directory / f"{PREFIX}{self._pid}-{self._seq}{SUFFIX}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another Spool of this process (or a dead process with our pid)
            if _lock_now(fd) and _same_file(fd, path):
                return fd, path
            os.close(fd)

    def _forget_parent_files(self) -> None:
        """After a fork the files named after the parent's pid are the parent's to append to."""
        if self._pid != os.getpid():
            self._pid, self._seq, self._current, self._lines = os.getpid(), 0, None, 0


class _BadLine(Exception):
    """Why a spool line holds no event (not a ValueError: json.loads must not swallow it)."""


def _events(lines: Iterator[tuple[int, bytes]], name: str, bad: list[Any]) -> Iterator[Normalized]:
    """The events of numbered lines; a bad line becomes a quarantine record in ``bad``."""
    for number, line in lines:
        try:
            yield _parse(line)
        except _BadLine as exc:  # kept: where, why, how long, and the start of the line
            raw = line.removesuffix(b"\n")
            text = raw[:QUARANTINE_RAW_BYTES].decode("utf-8", "replace")
            record = dict(file=name, line=number, reason=str(exc), bytes=len(raw), raw=text)
            bad.append({**record, "at": format_time(datetime.now(timezone.utc))})


def _parse(line: bytes) -> Normalized:
    """The item ``_line`` wrote, or _BadLine: nothing that could fail ``enqueue`` passes."""
    try:
        data = json.loads(line, parse_constant=_no_constant)
    except RecursionError:
        raise _BadLine("nested too deeply to parse") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise _BadLine(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not {"event", "providers", "caller_id"} <= data.keys():
        raise _BadLine("not an object with event, providers and caller_id")
    providers, caller_id = data["providers"], data["caller_id"]
    if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
        raise _BadLine("providers is not a list of strings")
    if not isinstance(caller_id, bool):
        raise _BadLine("caller_id is not true or false")
    if not isinstance(batch := data.get("batch", ""), str):
        raise _BadLine("batch is not a string")
    return Normalized(_event(data["event"]), tuple(providers), caller_id, batch=batch)


def _no_constant(name: str) -> NoReturn:
    raise _BadLine(f"non-finite number {name}")


#: The JSON types of each Event field: str unless said here, None only where it is the default.
_NUM, _OBJ = (int, float), (dict,)
_KINDS = dict(telegram_id=(int,), value=_NUM, queued_at=_NUM, properties=_OBJ, context=_OBJ)
_TYPES = {
    f.name: _KINDS.get(f.name, (str,)) + ((type(None),) if f.default is None else ())
    for f in fields(Event)
}


def _event(data: object) -> Event:
    """The Event of a spool line, checked as far as Redis and the providers rely on it."""
    if not isinstance(data, dict):
        raise _BadLine("event is not an object")
    try:
        event = Event(**data)
    except TypeError as exc:  # a missing or unknown field
        raise _BadLine(f"not an event: {exc}") from None
    values = {name: getattr(event, name) for name in _TYPES}
    wrong = [k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, _TYPES[k])]
    if wrong:
        raise _BadLine(f"event field(s) of the wrong type: {', '.join(wrong)}")
    try:
        event.to_json()  # what enqueue does to it: 1e999 parses as inf, and inf fails here
    except (ValueError, RecursionError) as exc:
        raise _BadLine(f"event cannot be encoded: {exc}") from None
    return event


def _open_locked(path: Path, ino: int) -> int | None:
    """``path`` opened for appending and locked, if it is still the file ``ino`` and no
    drainer holds it (then it is being claimed: a new file is started, nobody waits)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return None
    if _lock_now(fd) and os.fstat(fd).st_ino == ino and _same_file(fd, path):
        return fd
    os.close(fd)
    return None


def _lock_now(fd: int) -> bool:
    """Take the exclusive lock if nobody holds it; never waits."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _pop(names: deque[str]) -> str | None:
    """The next name, or None; another thread may empty the deque between a check and a pop."""
    try:
        return names.popleft()
    except IndexError:
        return None


def _write(fd: int, lines: list[bytes]) -> None:
    """All the lines or none: a short write (disk full) goes on until it fails, and a failure
    is cut off again, so no file ends in half a line that the next line would run into."""
    size = os.fstat(fd).st_size
    data = memoryview(b"".join(line + b"\n" for line in lines))
    try:
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0  # drained meanwhile


def _line(item: Normalized) -> bytes:
    event = json.loads(item.event.to_json())
    data = {"event": event, "providers": list(item.providers), "caller_id": item.caller_id}
    data.update({"batch": item.batch} if item.batch else {})
    return json.dumps(data, separators=(",", ":")).encode()


def _is_spool_name(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith((SUFFIX, CLAIMED))


def _base(path: Path) -> str:
    """``spool-<pid>-<seq>`` of a file, claimed or not (claiming only adds a suffix)."""
    return path.name.split(".", 1)[0]


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
