"""The spool's quarantine: lines a drain could not read, kept for a person to look at, then
removed once older than ``producer.quarantine_ttl``.

Records go to one file per UTC day (``quarantine-YYYY-MM-DD.jsonl``), appended under an
exclusive ``flock`` by any drainer, so a day's file stops changing once the day is over and
its age (its last write) says when all of it may go. A single ``quarantine.jsonl`` written by
an older version is read and aged the same way. Never read back as spool input. Apart from the
spool (producer/spool.py writes it) because the worker's tick ages it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("tracking_worker.spool")

#: The folder under the spool directory; a record keeps this much of the line it quarantined.
QUARANTINE_DIR, QUARANTINE_RAW_BYTES = "quarantine", 4096
PREFIX, SUFFIX = "quarantine", ".jsonl"

#: Writes lines whole (or not at all) to an fd and fsyncs: the spool's writer.
Write = Callable[[int, list[bytes]], None]


class Quarantine:
    """One spool directory's quarantine folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, records: Iterable[dict[str, Any]], write: Write) -> None:
        """Append records to today's file (fsync'd, created 0600: it holds event data)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        fd = os.open(self.directory / f"{PREFIX}-{day}{SUFFIX}", _APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other drainers hold it for one write at most
            write(fd, [json.dumps(r, separators=(",", ":")).encode() for r in records])
        finally:
            os.close(fd)

    def files(self) -> list[Path]:
        """Every quarantine file, oldest day first."""
        try:
            with os.scandir(self.directory) as entries:
                names = sorted(e.name for e in entries if _is_quarantine(e.name))
        except FileNotFoundError:
            return []
        return [self.directory / name for name in names]

    def count(self) -> int:
        """Lines in quarantine, counted from the files: right in any process."""
        total = 0
        for path in self.files():
            with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
                total += sum(1 for _ in handle)
        return total

    def remove_older_than(self, seconds: float, now: float | None = None) -> int:
        """Delete the files last written more than ``seconds`` ago; returns how many."""
        limit = (time.time() if now is None else now) - seconds
        removed = 0
        for path in self.files():
            with contextlib.suppress(FileNotFoundError):  # another remover was first
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
        if removed:
            log.info("quarantine: %d file(s) older than %.0fs removed", removed, seconds)
        return removed


_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT


def _is_quarantine(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(SUFFIX)
