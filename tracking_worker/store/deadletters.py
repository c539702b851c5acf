"""Reading, replaying and purging one provider's dead letters (the ``tw:{p}:dead`` stream).

Entries are read a page at a time, so a stream of ``dead_max`` letters is filtered without
holding it in memory. Stream ids are Redis time in milliseconds, so ``since`` is a range
bound, not a scan; so is the end of a replay: the newest id when it starts, so the letters
it moves back and the provider refuses again (new, later ids) are not replayed by the same run.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import redis

from ..errors import ConfigurationError
from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from ..settings import Settings
from . import codec
from .connection import as_text, converted
from .lua_scripts import Scripts

if TYPE_CHECKING:
    from .connection import Client

PAGE = 500
_STREAM_ID = re.compile(r"\d+-\d+")
Entry = tuple[str, dict[str, str]]
#: Moves of replay.lua, flat, and a chunk of entries (``DeadLetters.list`` shadows the
#: builtin inside the class).
Args = list[str]
Entries = list[Entry]


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
    #: ``stop()`` said stop before every matching letter was moved.
    stopped: bool = False


class DeadLetters:
    def __init__(self, settings: Settings, client: Client, provider: str) -> None:
        if provider not in settings.providers:
            configured = ", ".join(settings.providers) or "none"
            raise ConfigurationError(f"provider {provider!r} is not configured ({configured})")
        self.provider = provider
        self.client = client
        self.scripts = Scripts()
        self.keys = Keys(provider, settings.redis.key_prefix)
        self.receipts_ttl = settings.delivery.receipts_ttl

    def list(self, limit: int, flt: DeadFilter | None = None) -> list[dict[str, Any]]:
        """Newest first, decoded (see ``decode``)."""
        found: list[dict[str, Any]] = []
        for entry in self._newest_first(flt or DeadFilter()):
            found.append(self.decode(entry))
            if len(found) >= limit:
                break
        return found

    def count(self) -> int:
        """Dead letters stored now."""
        with converted("counting dead letters"):
            return int(self.client.xlen(self.keys.dead))

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

    def scan(
        self, flt: DeadFilter | None = None, limit: int | None = None, *, until: str = "+"
    ) -> Iterator[Entry]:
        """Oldest first, page by page, up to the entry ``until`` (inclusive); entries deleted
        meanwhile are simply not seen."""
        flt = flt or DeadFilter()
        start, seen = flt.lowest, 0
        while limit is None or seen < limit:
            with converted("reading dead letters"):
                page = cast(list[Any], self.client.xrange(self.keys.dead, start, until, count=PAGE))
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

    def newest_id(self) -> str | None:
        """The id of the newest letter now, None when there is none."""
        with converted("reading dead letters"):
            top = cast(list[Any], self.client.xrevrange(self.keys.dead, "+", "-", count=1))
        return _entry(top[0])[0] if top else None

    def replay(
        self,
        limit: int | None = None,
        flt: DeadFilter | None = None,
        *,
        dry_run: bool = False,
        chunk: int = PAGE,
        pause: Callable[[int], None] | None = None,
        stop: Callable[[], bool] | None = None,
        now: float | None = None,
    ) -> ReplayResult:
        """Oldest first, back to pending with the same event id and a fresh ``queued_at`` (so
        max_age counts from the replay), ``chunk`` per script call; ``pause(moved)`` runs
        after each call (rate limiting), and ``stop()`` before each: true ends the replay
        there. Only the letters stored when it starts: one the provider refuses again comes
        back as a new letter, for the next replay. Malformed events stay dead.

        Each letter leaves the stream in the script call that queues it, so a replay stopped
        or killed anywhere and run again never queues a letter twice."""
        newest = self.newest_id()
        stamp = time.time() if now is None else now
        done = ReplayResult()
        if newest is None:
            return done
        for batch in _chunks(self.scan(flt, limit, until=newest), chunk):
            if stop is not None and stop():
                return replace(done, stopped=True)
            done = self._replay_chunk(batch, done, stamp, dry_run, pause)
        return done

    def _replay_chunk(
        self,
        batch: Entries,
        done: ReplayResult,
        stamp: float,
        dry_run: bool,
        pause: Callable[[int], None] | None,
    ) -> ReplayResult:
        args: Args = []
        for entry_id, fields in batch:
            event = _event(fields)
            if event is not None:
                event["queued_at"] = stamp
                args += [entry_id, json.dumps(event, separators=(",", ":"), ensure_ascii=False)]
        moved = done.moved + (len(args) // 2 if dry_run or not args else self._move(args))
        if pause is not None and not dry_run:
            pause(moved)
        malformed = done.malformed + len(batch) - len(args) // 2
        return ReplayResult(done.matched + len(batch), moved, malformed)

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

    def _move(self, args: Args) -> int:
        """One replay.lua call; its key ``since`` marks when the pending list started filling."""
        call = codec.Replay(
            receipts_ttl=self.receipts_ttl,
            receipt_bucket=RECEIPT_BUCKET_SECONDS,
            receipts_prefix=self.keys.receipts_prefix,
            moves=tuple(args),
        )
        return int(self.scripts.call(self.client, call, self.keys))

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


def _chunks(entries: Iterator[Entry], size: int) -> Iterator[Entries]:
    batch: Entries = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


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
