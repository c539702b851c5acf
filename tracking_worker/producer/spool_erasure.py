"""Rewriting this host's spool and quarantine files without one person's lines.

Only the directory of this configuration, on this host: the spool of a web server elsewhere is
that host's to clean (``forget`` run there).

A file is rewritten under the lock every appender and drainer of ``spool.py`` takes on it: a
file being appended to, or claimed and drained, is waited for. A drain ends with its file
deleted and its events in Redis, where the Redis steps that follow find them; the directory is
listed again until no new name shows up, so a file claimed between the listing and its lock is
waited for too. The kept lines go to a temporary file in the same directory (a name no drainer
lists), fsync'd, given the old file's modification time (drains go oldest first) and renamed
over the old name, and the directory is fsync'd: a crash leaves the old file or the new one,
never half of one. An appender that held the old file sees another inode under the name and
starts a new file; a drainer opens the new one. A file left with no line is deleted.

The quarantine's files are appended to under the same lock by drainers that opened them just
before; a record such a drainer writes to the old file after the rename is moved to the new
one (``_salvage``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TrackingError
from ..person import Person
from .spool import CLAIMED, PREFIX, QUARANTINE_DIR, SUFFIX

#: How long a file's lock is waited for: a drainer holds it for one file (100 events, one
#: round trip to Redis), an appender for one write.
LOCK_WAIT = 30.0
#: Listings of the spool directory at most (each after the files of the last were done).
PASSES = 10
#: Between two looks for a quarantine record written to the old file (``_salvage``).
SALVAGE_PAUSE = 0.02

Owned = Callable[[bytes], bool]


@dataclass(frozen=True)
class FilesErased:
    """Lines removed from this host's files."""

    directory: str
    spool: int = 0
    quarantine: int = 0


def erase_files(directory: str | Path, person: Person) -> FilesErased:
    """Remove the person's lines from the spool files (claimed ones too) and the quarantine
    files under ``directory``. Raises TrackingError when a file stays locked ``LOCK_WAIT``."""
    root = Path(directory)
    spool = _erase_spool(root, lambda line: _spool_line_is(person, line))
    quarantine = 0
    folder = root / QUARANTINE_DIR
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        quarantine += _rewrite(path, lambda line: _quarantined_is(person, line), salvage=True)
    return FilesErased(str(root), spool, quarantine)


def _erase_spool(root: Path, owned: Owned) -> int:
    removed = 0
    done: set[str] = set()
    for _ in range(PASSES):
        names = sorted(n for n in _listing(root) if n not in done)
        if not names:
            break
        for name in names:
            removed += _rewrite(root / name, owned, salvage=False)
            done.add(name)
    return removed


def _listing(root: Path) -> list[str]:
    try:
        return [
            name
            for name in os.listdir(root)
            if name.startswith(PREFIX) and name.endswith((SUFFIX, CLAIMED))
        ]
    except FileNotFoundError:
        return []


def _rewrite(path: Path, owned: Owned, *, salvage: bool) -> int:
    """The file without the lines ``owned`` says are the person's; returns how many went."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return 0  # drained meanwhile
    with handle:
        _lock(handle.fileno(), path)
        if not _same_file(handle.fileno(), path):
            return 0  # drained (deleted) or claimed (renamed) while we waited: not there now
        lines = handle.read().splitlines(keepends=True)
        kept = [line for line in lines if not owned(line)]
        if len(kept) == len(lines):
            return 0
        if not kept:
            path.unlink()
        else:
            _replace(path, b"".join(kept), os.fstat(handle.fileno()).st_mtime_ns)
        _sync_dir(path.parent)
        if salvage:
            _salvage(handle.fileno(), sum(map(len, lines)), path, owned)
    return len(lines) - len(kept)


def _replace(path: Path, data: bytes, mtime_ns: int) -> None:
    temporary = path.with_name(f".forget-{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    except BaseException:
        os.close(fd)
        temporary.unlink()
        raise
    os.close(fd)
    os.replace(temporary, path)


def _salvage(old: int, size: int, path: Path, owned: Owned) -> None:
    """A drainer that opened the old quarantine file before the rename and waits for its lock
    writes once it has it: let it, then move what it added (if not the person's) to the file
    now under the name."""
    for _ in range(2):
        fcntl.flock(old, fcntl.LOCK_UN)
        time.sleep(SALVAGE_PAUSE)  # a waiting drainer takes the lock now, and writes
        fcntl.flock(old, fcntl.LOCK_EX)
        grown = os.pread(old, max(0, os.fstat(old).st_size - size), size)
        size += len(grown)
        late = b"".join(line for line in grown.splitlines(keepends=True) if not owned(line))
        if late:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, late)
                os.fsync(fd)
            finally:
                os.close(fd)


def _lock(fd: int, path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TrackingError(f"{path} stayed locked for {LOCK_WAIT:g}s") from None
        time.sleep(0.01)  # its appender or drainer holds it for one write or one file


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse a directory's fsync
            os.fsync(fd)
    finally:
        os.close(fd)


def _spool_line_is(person: Person, line: bytes) -> bool:
    """A spool line (``{"event": ..., "providers": ...}``) holding the person's event; a line
    that does not parse (cut short by a crash) is matched on its text."""
    data = _parsed(line)
    event = data.get("event") if isinstance(data, dict) else None
    if isinstance(event, dict):
        return person.owns(event)
    return person.written_in(line.decode("utf-8", "replace"))


def _quarantined_is(person: Person, line: bytes) -> bool:
    """A quarantine record (where a bad line was, why, and its start as ``raw``)."""
    record = _parsed(line)
    raw = record.get("raw") if isinstance(record, dict) else None
    if isinstance(raw, str):
        return _spool_line_is(person, raw.encode())
    return person.written_in(line.decode("utf-8", "replace"))


def _parsed(line: bytes) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None
