"""The local spool: where ``track()`` puts events while Redis cannot be reached.

JSON lines, fsync'd, in small files: a process appends to its own files only (so concurrent web
workers never interleave lines) and starts a new one every ``max_lines`` events. Draining takes
whole files: it claims one by renaming it, enqueues its events in chunks and deletes it, so a
drain step costs one file however large the spool has grown. Only when ``enqueue`` fails part-way
is the rest of that one file written back, as a new file. A crash mid-drain leaves a claimed
file that the next drain takes over once its process is gone: at most one file's events may be
enqueued twice then, none lost.

File names: ``spool-<pid>-<seq>.jsonl`` while open for appends, and
``spool-<pid>-<seq>.<random>-<drainer pid>.draining`` once claimed.
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
from itertools import chain, islice
from pathlib import Path
from typing import IO

from ..events import Event, Normalized

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
        self.max_lines = max_lines
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
                finally:
                    os.close(fd)

    def count(self) -> int:
        """Events spooled (lines in every file, claimed ones included)."""
        total = 0
        for name in self._names():
            try:
                with (self.directory / name).open("rb") as handle:
                    total += sum(1 for _ in handle)
            except FileNotFoundError:
                continue  # drained meanwhile
        return total

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
            done += self._drain_file(claimed, enqueue, chunk)
            taken += 1
        return done

    def _claim_next(self) -> Path | None:
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

    def _claim(self, path: Path) -> Path | None:
        """Rename the file so no other drainer takes it; a stale claim of a dead process too."""
        if path.suffix == CLAIMED:
            owner = _claimed_by(path)
            if owner is not None and _alive(owner):
                return None
        elif path.suffix != SUFFIX:
            return None
        target = path.with_name(f"{_base(path)}.{uuid.uuid4().hex[:8]}-{os.getpid()}{CLAIMED}")
        try:
            path.rename(target)
        except FileNotFoundError:
            return None  # another process claimed it first
        return target

    def _drain_file(self, path: Path, enqueue: Enqueue, chunk: int) -> int:
        """Enqueue one claimed file, then delete it; returns how many events went.

        Reads at most ``max_lines`` events, a chunk at a time. Whatever was not enqueued (the
        failed chunk and the lines after it, or what lies beyond ``max_lines`` in a file
        written before files were rotated) is spooled again as new files first."""
        _wait_for_writer(path)
        done = 0
        part: list[Normalized] = []
        with path.open("rb") as handle:
            items = _read(handle, path.name)
            try:
                for part in _chunks(items, chunk, self.max_lines):
                    enqueue(part)
                    done += len(part)
                    part = []
            finally:
                self._respool(chain(part, items), like=path)
                path.unlink()  # not reached if respooling failed: then the file is kept whole
        return done

    def _respool(self, items: Iterator[Normalized], *, like: Path) -> None:
        """Write items back as new files with ``like``'s mtime, so they stay first in line:
        the next drain step lists the directory afresh to find them."""
        mtime = like.stat().st_mtime_ns
        with self._lock:
            self._forget_parent_files()
            while part := [_line(item) for item in islice(items, self.max_lines)]:
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
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                return fd, path
            os.close(fd)

    def _forget_parent_files(self) -> None:
        """After a fork the files named after the parent's pid are the parent's to append to."""
        if self._pid != os.getpid():
            self._pid, self._seq, self._current, self._lines = os.getpid(), 0, None, 0


def _open_locked(path: Path, ino: int) -> int | None:
    """``path`` opened for appending and locked, if it is still the file ``ino``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    if os.fstat(fd).st_ino == ino and _same_file(fd, path):
        return fd
    os.close(fd)
    return None


def _pop(names: deque[str]) -> str | None:
    """The next name, or None; another thread may empty the deque between a check and a pop."""
    try:
        return names.popleft()
    except IndexError:
        return None


def _write(fd: int, lines: list[str]) -> None:
    os.write(fd, "".join(line + "\n" for line in lines).encode())
    os.fsync(fd)


def _wait_for_writer(path: Path) -> None:
    """A writer that opened the file before we renamed it holds its lock until it is done."""
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)


def _chunks(items: Iterator[Normalized], size: int, total: int) -> Iterator[list[Normalized]]:
    """Lists of ``size`` items, ``total`` items at most; leaves the rest unread in ``items``."""
    while total > 0 and (part := list(islice(items, min(size, total)))):
        total -= len(part)
        yield part


def _line(item: Normalized) -> str:
    event = json.loads(item.event.to_json())
    return json.dumps(
        {"event": event, "providers": list(item.providers), "caller_id": item.caller_id},
        separators=(",", ":"),
    )


def _read(handle: IO[bytes], name: str) -> Iterator[Normalized]:
    for number, line in enumerate(handle, 1):
        try:
            data = json.loads(line)
            yield Normalized(
                Event(**data["event"]), tuple(data["providers"]), bool(data["caller_id"])
            )
        except (ValueError, TypeError, KeyError) as exc:
            # Only a line cut short by a crash mid-write can be malformed.
            log.error("spool %s line %d unreadable, skipped: %s", name, number, exc)


def _is_spool_name(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith((SUFFIX, CLAIMED))


def _base(path: Path) -> str:
    """``spool-<pid>-<seq>`` of a file, claimed or not (claiming only adds a suffix)."""
    return path.name.split(".", 1)[0]


def _claimed_by(path: Path) -> int | None:
    """The drainer pid in ``<base>.<random>-<pid>.draining``; None if the name has none."""
    owner = path.stem.rsplit("-", 1)[-1]
    return int(owner) if "." in path.stem and owner.isdigit() else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
