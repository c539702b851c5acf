"""Reading, replaying and purging one provider's dead letters (the ``tw:{p}:dead`` stream).

Entries are read a page at a time, so a stream of ``dead_max`` letters is filtered without
holding it in memory. Stream ids are Redis time in milliseconds, so ``since`` is a range
bound, not a scan.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis

from ..errors import ConfigurationError
from ..keys import Keys
from ..settings import Settings
from . import codec
from .connection import as_text, converted
from .lua_scripts import Scripts

PAGE = 500
_STREAM_ID = re.compile(r"\d+-\d+")
Entry = tuple[str, dict[str, str]]
#: Moves of replay.lua, flat (``DeadLetters.list`` shadows the builtin inside the class).
Args = list[str]


@dataclass(frozen=True)
class DeadFilter:
    """Which dead letters a command applies to."""

    #: Case-insensitive text the reason must contain ("" matches all).
    reason: str = ""
    #: Only letters dead-lettered at or after this Redis time, in ms (the stream id's time).
    since_ms: int | None = None

    def matches(self, fields: Mapping[str, str]) -> bool:
        return self.reason.lower() in fields.get("reason", "").lower()

    @property
    def lowest(self) -> str:
        return "-" if self.since_ms is None else f"{self.since_ms}-0"


@dataclass(frozen=True)
class ReplayResult:
    matched: int = 0
    #: Moved back to pending (on a dry run: would be moved).
    moved: int = 0
    #: Not valid JSON: replaying cannot fix them, so they stay dead.
    malformed: int = 0


class DeadLetters:
    def __init__(self, settings: Settings, client: redis.Redis, provider: str) -> None:
        if provider not in settings.providers:
            configured = ", ".join(settings.providers) or "none"
            raise ConfigurationError(f"provider {provider!r} is not configured ({configured})")
        self.provider = provider
        self.client = client
        self.scripts = Scripts()
        self.keys = Keys(provider, settings.redis.key_prefix)

    def list(self, limit: int, flt: DeadFilter | None = None) -> list[dict[str, Any]]:
        """Newest first, decoded (see ``decode``)."""
        found: list[dict[str, Any]] = []
        for entry in self._newest_first(flt or DeadFilter()):
            found.append(self.decode(entry))
            if len(found) >= limit:
                break
        return found

    def get(self, entry_id: str) -> dict[str, Any] | None:
        with converted("reading a dead letter"):
            try:
                got = cast(list[Any], self.client.xrange(self.keys.dead, entry_id, entry_id))
            except redis.ResponseError as exc:
                if "Invalid stream ID" in str(exc):
                    return None
                raise
        return self.decode(_entry(got[0])) if got else None

    def find(self, key: str) -> dict[str, Any] | None:
        """By stream id (``1722708000123-0``) or by event id (what ``dlq list`` shows): the
        latter reads the stream a page at a time, as an operator's lookup may."""
        if _STREAM_ID.fullmatch(key):
            return self.get(key)
        for entry in self._newest_first(DeadFilter()):
            event = _event(entry[1])
            if event is not None and event.get("event_id") == key:
                return self.decode(entry)
        return None

    def decode(self, entry: Entry) -> dict[str, Any]:
        """The stored fields plus ``id`` and ``provider``; the event parsed when it parses
        (kept as text otherwise), ``dead_at`` and ``attempts`` as numbers."""
        entry_id, fields = entry
        out: dict[str, Any] = {"id": entry_id, "provider": self.provider, **fields}
        with contextlib.suppress(ValueError):
            out["event"] = json.loads(fields.get("event", ""))
        for name, kind in (("dead_at", float), ("attempts", int)):
            with contextlib.suppress(ValueError, KeyError):
                out[name] = kind(fields[name])
        return out

    def scan(self, flt: DeadFilter | None = None, limit: int | None = None) -> Iterator[Entry]:
        """Oldest first, page by page; entries deleted meanwhile are simply not seen."""
        flt = flt or DeadFilter()
        start, seen = flt.lowest, 0
        while limit is None or seen < limit:
            with converted("reading dead letters"):
                page = cast(list[Any], self.client.xrange(self.keys.dead, start, "+", count=PAGE))
            for raw in page:
                entry = _entry(raw)
                if flt.matches(entry[1]):
                    yield entry
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
            if len(page) < PAGE:
                return
            start = _after(_entry(page[-1])[0])

    def replay(
        self,
        limit: int | None = None,
        flt: DeadFilter | None = None,
        *,
        dry_run: bool = False,
        chunk: int = PAGE,
        pause: Callable[[int], None] | None = None,
        now: float | None = None,
    ) -> ReplayResult:
        """Oldest first, back to pending with the same event id and a fresh ``queued_at`` (so
        max_age counts from the replay), ``chunk`` per script call; ``pause(moved)`` runs
        after each call (rate limiting). Malformed events stay dead."""
        stamp = time.time() if now is None else now
        matched = moved = malformed = 0
        args: Args = []
        for entry_id, fields in self.scan(flt, limit):
            matched += 1
            event = _event(fields)
            if event is None:
                malformed += 1
                continue
            event["queued_at"] = stamp
            args += [entry_id, json.dumps(event, separators=(",", ":"), ensure_ascii=False)]
            if len(args) >= 2 * chunk:
                moved += self._move(args, dry_run, pause, moved)
                args = []
        if args:
            moved += self._move(args, dry_run, pause, moved)
        return ReplayResult(matched, moved, malformed)

    def purge(self, limit: int | None = None, flt: DeadFilter | None = None) -> int:
        """Delete the matching letters for good; counted as ``purged`` in the stats."""
        ids = [entry_id for entry_id, _ in self.scan(flt, limit)]
        purged = 0
        for i in range(0, len(ids), PAGE):
            with converted("purging dead letters"):
                pipe = self.client.pipeline(transaction=True)
                pipe.xdel(self.keys.dead, *ids[i : i + PAGE])
                pipe.hincrby(self.keys.stats, "purged", len(ids[i : i + PAGE]))
                deleted, _ = pipe.execute()
            purged += int(deleted)
        return purged

    def _move(
        self, args: Args, dry_run: bool, pause: Callable[[int], None] | None, before: int
    ) -> int:
        if dry_run:
            return len(args) // 2
        # Its key ``since`` lets replay.lua mark when the pending list started filling.
        moved = int(self.scripts.call(self.client, codec.Replay(moves=tuple(args)), self.keys))
        if pause is not None:
            pause(before + moved)
        return moved

    def _newest_first(self, flt: DeadFilter) -> Iterator[Entry]:
        end = "+"
        while True:
            with converted("reading dead letters"):
                page = cast(
                    list[Any],
                    self.client.xrevrange(self.keys.dead, end, flt.lowest, count=PAGE),
                )
            for raw in page:
                entry = _entry(raw)
                if flt.matches(entry[1]):
                    yield entry
            if len(page) < PAGE:
                return
            before = _before(_entry(page[-1])[0])
            if before is None:
                return
            end = before


def _entry(raw: Any) -> Entry:
    entry_id, fields = raw
    return as_text(entry_id), {as_text(a): as_text(b) for a, b in fields.items()}


def _event(fields: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        event = json.loads(fields.get("event", ""))
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _after(entry_id: str) -> str:
    """The smallest stream id above ``entry_id`` (exclusive ranges need Redis 6.2)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq) + 1}"


def _before(entry_id: str) -> str | None:
    ms_text, _, seq_text = entry_id.partition("-")
    ms, seq = int(ms_text), int(seq_text)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-18446744073709551615" if ms > 0 else None
