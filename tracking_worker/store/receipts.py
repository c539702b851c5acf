"""Delivery receipts: where one event stands with each provider.

Written by the Lua calls that settle an event's state (no extra round trip): settle.lua
(``retry``, ``delivered`` or a dry run's ``dry_run``, ``dead``), reap.lua (``retry``, a lease
that expired) and replay.lua (``pending``, a dead letter queued again: its ``dead`` receipt
would read as the newer state otherwise); see receipts_lib.lua. A provider's receipts share one
hash per RECEIPT_BUCKET_SECONDS of Redis time, ``tw:{p}:receipts:<bucket>``: field the event id,
value ``state|attempts|updated_at ms|text`` (text: the last error of a retry, the reason of a
dead letter). Each bucket expires ``receipts_ttl`` after it ends, so a receipt lives between
``receipts_ttl`` and that plus one bucket. A key per event cost about 220 bytes; a field costs
about half of that.

Two states have no receipt, and are looked for where the event sits:
- ``pending``: enqueue writes none (a waiting event costs its JSON only); found in the
  provider's pending list, read in chunks from the newest end so Redis is never held up
  (a replayed event has its receipt, from replay.lua).
- ``in_flight``: claim writes none (a receipt per event, overwritten by settle moments later,
  had cost Redis a quarter of its time per delivered event); found in the provider's leased
  batches, which are few (the requests in flight) and read in one pipeline.
A provider that knows nothing of an event others know did not take it: skipped (it lacks what
the provider needs), dropped or deduplicated. With receipts off (``receipts_ttl = 0``) only
pending and in-flight events are found, and the other providers read ``unknown``: without
receipts, one that delivered it and one that skipped it look the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..keys import RECEIPT_BUCKET_SECONDS, Keys
from ..settings import Settings
from .codec import JSON, LINES, batch_events
from .connection import as_text, converted

if TYPE_CHECKING:
    from .connection import Client

Receipt = dict[str, Any]

#: Pending events read per LRANGE: each call is short, so Redis serves others in between.
SCAN_CHUNK = 2000
#: Leased batches read per pipeline (each up to a request's worth of events).
LEASE_CHUNK = 50


def receipt_of(client: Client, settings: Settings, event_id: str) -> dict[str, Receipt]:
    """Per configured provider, this event's receipt; {} when no provider knows it (an unknown
    id, one older than ``receipts_ttl``, or receipts off and the event neither pending nor in
    flight).
    Raises StoreError (StoreUnavailable when Redis is down)."""
    ttl, lease = settings.delivery.receipts_ttl, settings.delivery.lease_seconds
    keys = {name: Keys(name, settings.redis.key_prefix) for name in settings.providers}
    found = read_receipts(client, keys, event_id, ttl)
    # A retry's receipt stays while its batch is sent again: a lease is the newer state.
    found.update(find_leased(client, keys, event_id, lease))
    unseen = {name: k for name, k in keys.items() if name not in found}
    for name, k in unseen.items():
        pending = find_pending(client, k, event_id)
        if pending is not None:
            found[name] = pending
    # An event moves pending -> leased -> receipt (settled, or reaped back to retry); one a
    # claim took while its list was read is found by looking again in that order.
    missed = {name: k for name, k in unseen.items() if name not in found}
    if missed:
        found.update(find_leased(client, missed, event_id, lease))
        missed = {name: k for name, k in missed.items() if name not in found}
        found.update(read_receipts(client, missed, event_id, ttl))
    if not found:
        return {}
    nothing = {"state": "skipped" if ttl > 0 else "unknown", "attempts": 0}
    return {name: found.get(name, dict(nothing)) for name in keys}


def read_receipts(
    client: Client, keys: Mapping[str, Keys], event_id: str, ttl: float
) -> dict[str, Receipt]:
    """The newest receipt of the event per provider that has one: one HGET per bucket that
    may still exist, newest first, in one pipeline (after a TIME: buckets are Redis time)."""
    if ttl <= 0 or not keys:
        return {}
    with converted("reading receipts"):
        seconds, micros = client.time()
        buckets = live_buckets(seconds + micros / 1e6, ttl)
        pipe = client.pipeline(transaction=False)
        for k in keys.values():
            for bucket in buckets:
                pipe.hget(k.receipts(bucket), event_id)
        answers = pipe.execute()
    found: dict[str, Receipt] = {}
    n = len(buckets)
    for i, name in enumerate(keys):
        newest = next((a for a in answers[i * n : (i + 1) * n] if a is not None), None)
        if newest is not None:
            found[name] = parse_receipt(as_text(newest))
    return found


def live_buckets(now: float, ttl: float) -> list[int]:
    """The buckets whose hash may still exist at ``now``, newest first: the current one and
    ``ceil(ttl / W) + 1`` before it (one more than the expiry allows, for safety)."""
    current = math.floor(now / RECEIPT_BUCKET_SECONDS)
    back = math.ceil(ttl / RECEIPT_BUCKET_SECONDS) + 1
    return [current - i for i in range(back + 1)]


def parse_receipt(value: str) -> Receipt:
    """``state|attempts|updated_at ms|text`` as a dict; the text is last, so it may hold '|'."""
    parts = value.split("|", 3)
    try:
        state, attempts, millis, text = parts
        out: Receipt = {"state": state, "attempts": int(attempts), "updated_at": int(millis) / 1e3}
    except ValueError:
        raise StoreError(f"reading receipts failed: not a receipt: {value[:100]!r}") from None
    if text:
        out["reason" if state in ("dead", "dropped", "skipped") else "error"] = text
    return out


def find_pending(client: Client, keys: Keys, event_id: str) -> Receipt | None:
    """The event in this provider's pending list, as a ``pending`` receipt; None when absent.

    Read SCAN_CHUNK items at a time from the tail (newest) to the head, by negative index: new
    events pushed at the tail only move the rest further back (read twice at worst) and claims
    pop from the head, so no item that stays in the list is passed over."""
    needle = _start_of(event_id)
    wanted = (needle, needle.encode())
    end = -1
    while True:
        with converted("reading the pending list"):
            chunk: list[Any] = list(client.lrange(keys.pending, end - SCAN_CHUNK + 1, end))
        for raw in reversed(chunk):
            if raw.startswith(wanted[isinstance(raw, bytes)]):
                return pending_receipt(raw)
        if len(chunk) < SCAN_CHUNK:
            return None
        end -= SCAN_CHUNK


def find_leased(
    client: Client, keys: Mapping[str, Keys], event_id: str, lease: float
) -> dict[str, Receipt]:
    """Per provider, the event in one of its leased batches (being sent now) as an
    ``in_flight`` receipt: its batch's attempts so far, changed when its lease was last taken
    or renewed (the deadline less ``lease`` seconds, Redis time)."""
    if not keys:
        return {}
    with converted("reading the leased batches"):
        pipe = client.pipeline(transaction=False)
        for k in keys.values():
            pipe.zrange(k.leases, 0, -1, withscores=True)
        leases = dict(zip(keys, pipe.execute(), strict=True))
    needle = _start_of(event_id)
    found: dict[str, Receipt] = {}
    for name, k in keys.items():
        held = [(as_text(batch_id), float(deadline)) for batch_id, deadline in leases[name]]
        leased = _leased(client, k, held, needle, lease)
        if leased is not None:
            found[name] = leased
    return found


def _leased(
    client: Client, keys: Keys, held: list[tuple[str, float]], needle: str, lease: float
) -> Receipt | None:
    """The ``in_flight`` receipt of the event starting with ``needle`` if one of the ``held``
    batches (id, lease deadline) holds it; read LEASE_CHUNK batches per pipeline."""
    for start in range(0, len(held), LEASE_CHUNK):
        chunk = held[start : start + LEASE_CHUNK]
        with converted("reading the leased batches"):
            pipe = client.pipeline(transaction=False)
            for batch_id, _ in chunk:
                pipe.hmget(keys.batch(batch_id), "attempts", "lines", "events")
            batches = pipe.execute()
        for (_, deadline), (attempts, lines, events) in zip(chunk, batches, strict=True):
            if _holds(needle, lines, events):
                updated = deadline - lease
                return {"state": "in_flight", "attempts": int(attempts or 0), "updated_at": updated}
    return None


def _start_of(event_id: str) -> str:
    """How the event's serialized form starts (``Event.to_json`` writes the id first, its
    closing quote included, so another id it prefixes does not match)."""
    return '{"event_id":' + json.dumps(event_id, ensure_ascii=False)


def _holds(needle: str, lines: Any, events: Any) -> bool:
    """Whether a batch's events (its field ``lines`` or ``events``, see ``codec.batch_events``)
    hold the event whose serialized form starts with ``needle``."""
    form, text = (LINES, lines) if lines is not None else (JSON, events)
    if text is None:
        return False
    try:
        items = batch_events(text, form)
    except ValueError:
        return False  # a corrupt batch: its claim reports it
    return isinstance(items, list) and any(
        isinstance(item, str) and item.startswith(needle) for item in items
    )


def pending_receipt(raw: str | bytes) -> Receipt:
    """A queued event as a receipt: no attempt yet, changed when it was queued."""
    try:
        queued_at = float(json.loads(raw).get("queued_at") or 0.0)
    except (ValueError, TypeError, AttributeError):
        queued_at = 0.0
    return {"state": "pending", "attempts": 0, "updated_at": queued_at}
