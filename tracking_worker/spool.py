"""The local spool: where ``track()`` puts events while Redis cannot be reached.

JSON lines, fsync'd, one file per process (so concurrent web workers never interleave lines).
Draining claims a file by renaming it, enqueues its events in bounded chunks, and writes back
what it could not enqueue. A crash mid-drain leaves a claimed file that the next drain takes
over once its process is gone: events may be enqueued twice then, never lost.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from .events import Event, Normalized

log = logging.getLogger("tracking_worker.spool")

SUFFIX = ".jsonl"
CLAIMED = ".draining"


class Spool:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def append(self, items: Iterable[Normalized]) -> None:
        """Write and fsync; raises OSError when even the disk fails (the caller must know)."""
        lines = "".join(_line(item) + "\n" for item in items).encode()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"spool-{os.getpid()}{SUFFIX}"
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, path):  # not claimed by a drainer since we opened it
                    os.write(fd, lines)
                    os.fsync(fd)
                    return
            finally:
                os.close(fd)

    def count(self) -> int:
        """Events spooled (lines in every file, claimed ones included)."""
        total = 0
        for path in self._files():
            if path.suffix in (SUFFIX, CLAIMED):
                with path.open("rb") as handle:
                    total += sum(1 for _ in handle)
        return total

    def has_events(self) -> bool:
        try:
            return any(p.suffix in (SUFFIX, CLAIMED) for p in self.directory.iterdir())
        except FileNotFoundError:
            return False

    def drain(
        self, enqueue: Callable[[list[Normalized]], None], *, limit: int, chunk: int = 100
    ) -> int:
        """Enqueue up to ``limit`` spooled events; returns how many. ``enqueue`` raising stops
        the drain with the rest kept in the spool."""
        done = 0
        for path in self._files():
            if done >= limit:
                break
            claimed = self._claim(path)
            if claimed is not None:
                done += self._drain_file(claimed, enqueue, limit - done, chunk)
        return done

    def _files(self) -> list[Path]:
        try:
            return sorted(self.directory.iterdir(), key=lambda p: p.stat().st_mtime)
        except FileNotFoundError:
            return []

    def _claim(self, path: Path) -> Path | None:
        """Rename the file so no other drainer takes it; a stale claim of a dead process too."""
        if path.suffix == CLAIMED:
            owner = path.stem.rsplit("-", 1)[-1]
            if owner.isdigit() and _alive(int(owner)):
                return None
        elif path.suffix != SUFFIX:
            return None
        target = path.with_name(
            f"{path.stem.split('.')[0]}.{uuid.uuid4().hex[:8]}-{os.getpid()}{CLAIMED}"
        )
        try:
            path.rename(target)
        except FileNotFoundError:
            return None  # another process claimed it first
        return target

    def _drain_file(
        self, path: Path, enqueue: Callable[[list[Normalized]], None], limit: int, chunk: int
    ) -> int:
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # waits for a write in progress to finish
        items = list(_read(path))
        done = 0
        try:
            while done < min(limit, len(items)):
                part = items[done : done + min(chunk, limit - done)]
                enqueue(part)
                done += len(part)
        finally:
            if done < len(items):
                self.append(items[done:])
            path.unlink()
        return done


def _line(item: Normalized) -> str:
    event = json.loads(item.event.to_json())
    return json.dumps(
        {"event": event, "providers": list(item.providers), "caller_id": item.caller_id},
        separators=(",", ":"),
    )


def _read(path: Path) -> Iterable[Normalized]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                data = json.loads(line)
                yield Normalized(
                    Event(**data["event"]), tuple(data["providers"]), bool(data["caller_id"])
                )
            except (ValueError, TypeError, KeyError) as exc:
                # Only a line cut short by a crash mid-write can be malformed.
                log.error("spool %s line %d unreadable, skipped: %s", path.name, number, exc)


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
