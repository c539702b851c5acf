"""Removing one person's events from one provider's keys, while workers keep delivering.

Each step is one Lua script call, atomic, reading a bounded chunk (``forget_*.lua``), so a
backlog of 100,000 events never holds Redis up for long. An event moves while the steps run
(pending -> a leased batch -> retry, dead or parked), so the order of the steps is what lets
none slip past:

1. ``forget_guard`` announces the run: replay.lua and route_resume.lua, which put dead letters
   and parked events back in the pending list, drop the person's instead until the run ends.
2. The pending list, from the newest end to the oldest: an event claimed before its chunk is
   read is in a batch by then.
3. The batches, retry and leased, listed after step 2 (a batch keeps its id from lease to
   retry and back). A leased batch keeps its lease, with a record of what was removed that
   settle.lua honours: the worker's settle can neither re-queue nor dead-letter those events.
4. The parked lists and 5. the dead letters: what a settle put there before step 3 is there.
6. Waiting until every leased batch that held the person's events is settled (or its lease has
   run out, after which its worker starts no request): its worker may still send them until
   then, and nothing of them may go out after ``forget`` returns.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from ..person import Person
from . import codec
from .cluster import TIME_AT, redis_time
from .connection import as_text, converted
from .deadletters import _after
from .lua_scripts import Scripts

if TYPE_CHECKING:
    from .connection import Client

#: Pending or parked events read per script call. Measured on 100,000 pending events of
#: about 250 bytes (tests/store/test_erasure.py prints it): a call takes 0.6 ms for one
#: identifier, 1.5 ms for four, 2.7 ms at most; 2,000 a call took twice as long a call for
#: the same total (0.07 s for one identifier, 0.16 s for four).
LIST_CHUNK = 1000
#: Dead letters read per call: an entry is its event and eight short fields. A full stream of
#: 100,000 letters took 0.3 s, the longest call 2 to 5 ms (1,000 a call: 5 to 7 ms).
DEAD_CHUNK = 500
#: Batches per call: a batch holds up to 100 events (Graspil's requests) or 128 (a one-event
#: provider's claim, 8 per connection), so a call reads about as many events as LIST_CHUNK.
BATCH_CHUNK = 10
#: How long a run's announcement holds if the run dies (step 1).
GUARD_SECONDS = 600.0
#: How often step 6 looks whether the leased batches were settled.
POLL = 0.05


@dataclass(frozen=True)
class Removed:
    """What a forget removed from one provider, place by place."""

    pending: int = 0
    #: From batches waiting for their retry.
    retry: int = 0
    #: From batches a worker held a lease on (being sent).
    in_flight: int = 0
    #: From paused routes' parked lists.
    parked: int = 0
    dead: int = 0
    #: Receipts of the events removed.
    receipts: int = 0
    #: Leased batches still held by their worker when the wait ended (normally 0).
    unsettled: int = 0

    @property
    def events(self) -> int:
        return self.pending + self.retry + self.in_flight + self.parked + self.dead


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, place: str, n: Any) -> None:
        self.counts[place] = self.counts.get(place, 0) + int(n)


class ProviderErasure:
    """One provider's part of a forget; ``run`` does steps 1 to 6 of the module's docstring."""

    def __init__(
        self,
        client: Client,
        scripts: Scripts,
        keys: Keys,
        person: Person,
        *,
        receipts_ttl: float,
        wait: float,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.needles = person.needles()
        #: How long step 6 waits for a leased batch to be settled, at most.
        self.wait = wait
        self._receipts: dict[str, Any] = {
            "receipts_ttl": receipts_ttl,
            "receipt_bucket": RECEIPT_BUCKET_SECONDS,
            "receipts_prefix": keys.receipts_prefix,
        }

    def run(self) -> Removed:
        token = uuid.uuid4().hex
        tally = _Tally()
        self._guard(token, GUARD_SECONDS)
        try:
            self._list("", "pending", tally)
            held = self._batches(tally)
            for route in self._routes():
                self._list(route, "parked", tally)
            self._dead(tally)
            unsettled = self._wait_settled(held)
        finally:
            self._guard(token, 0)
        c = tally.counts
        return Removed(
            **{p: c.get(p, 0) for p in ("pending", "retry", "in_flight", "parked", "dead")},
            receipts=c.get("receipts", 0),
            unsettled=unsettled,
        )

    def _call(self, layout: codec.Layout) -> Any:
        return self.scripts.call(self.client, layout, self.keys)

    def _guard(self, token: str, seconds: float) -> None:
        self._call(codec.ForgetGuard(token=token, seconds=seconds, needles=self.needles))

    def _list(self, route: str, place: str, tally: _Tally) -> None:
        """The pending list (route "") or a parked list, a chunk per call."""
        last, done = -1, False
        while not done:
            call = codec.ForgetList(
                parked_prefix=self.keys.parked_prefix,
                route=route,
                last=last,
                chunk=LIST_CHUNK,
                needles=self.needles,
                **self._receipts,
            )
            removed, receipts, last, finished = self._call(call)
            tally.add(place, removed)
            tally.add("receipts", receipts)
            last, done = int(last), bool(int(finished))

    def _batches(self, tally: _Tally) -> list[tuple[str, str]]:
        """Every batch now leased or waiting for its retry; returns the (id, token) of the
        leased ones that held the person's events."""
        with converted("listing the batches"):
            pipe = self.client.pipeline(transaction=False)
            pipe.zrange(self.keys.leases, 0, -1)
            pipe.zrange(self.keys.retry, 0, -1)
            leased, retrying = pipe.execute()
        ids = list(dict.fromkeys(as_text(i) for i in [*leased, *retrying]))
        held: list[tuple[str, str]] = []
        for start in range(0, len(ids), BATCH_CHUNK):
            call = codec.ForgetBatches(
                batch_prefix=self.keys.batch_prefix,
                needles=self.needles,
                batch_ids=tuple(ids[start : start + BATCH_CHUNK]),
                **self._receipts,
            )
            retry, in_flight, receipts, *pairs = self._call(call)
            tally.add("retry", retry)
            tally.add("in_flight", in_flight)
            tally.add("receipts", receipts)
            held += _pairs(pairs)
        return held

    def _routes(self) -> list[str]:
        """The paused routes: each has a parked list (settle.lua writes both in one step)."""
        with converted("reading the paused routes"):
            return [as_text(name) for name in self.client.hkeys(self.keys.routes)]

    def _dead(self, tally: _Tally) -> None:
        start, done = "-", False
        while not done:
            call = codec.ForgetDead(
                start=start, chunk=DEAD_CHUNK, needles=self.needles, **self._receipts
            )
            removed, receipts, last, finished = self._call(call)
            tally.add("dead", removed)
            tally.add("receipts", receipts)
            done = bool(int(finished)) or not as_text(last)
            if not done:
                start = _after(as_text(last))

    def _wait_settled(self, held: list[tuple[str, str]]) -> int:
        """Step 6: until each batch is settled (its token changed or gone) or its lease ran
        out in Redis time; returns how many are still held when ``wait`` seconds are up."""
        deadline = time.monotonic() + self.wait
        while held:
            with converted("waiting for leased batches to be settled"):
                pipe = self.client.pipeline(transaction=False)
                pipe.execute_command("EVAL", TIME_AT, 1, self.keys.leases)  # the leases' node
                for batch_id, _ in held:
                    pipe.hget(self.keys.batch(batch_id), "token")
                    pipe.zscore(self.keys.leases, batch_id)
                now_parts, *answers = pipe.execute()
            now = redis_time(now_parts)
            held = [
                (batch_id, token)
                for (batch_id, token), got, deadline_at in zip(
                    held, answers[::2], answers[1::2], strict=True
                )
                if got is not None
                and as_text(got) == token
                and deadline_at is not None
                and float(deadline_at) > now
            ]
            if not held or time.monotonic() >= deadline:
                break
            time.sleep(POLL)  # the worker settles when its requests are answered
        return len(held)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, str]]:
    texts = [as_text(x) for x in flat]
    return list(zip(texts[::2], texts[1::2], strict=True))
