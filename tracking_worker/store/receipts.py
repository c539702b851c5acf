"""Delivery receipts: where one event stands with each provider, written by the same Lua calls
that change its state (enqueue, claim, settle: no extra round trip) and kept ``receipts_ttl``.

A receipt is a hash ``tw:{p}:receipt:<event_id>``: ``state`` (pending, in_flight, retry,
delivered, dead), ``attempts``, ``updated_at`` (Redis time), and ``error`` (the last one, for a
retry) or ``reason`` (for a dead letter). A provider without one for an event that others have
did not take it: skipped (it lacks what the provider needs), dropped or deduplicated.
"""

from __future__ import annotations

from typing import Any

import redis

from ..keys import Keys
from ..settings import Settings
from .connection import as_text, converted


def receipt_of(client: redis.Redis, settings: Settings, event_id: str) -> dict[str, dict[str, Any]]:
    """Per configured provider, this event's receipt; {} when no provider has one (an unknown
    id, one older than ``receipts_ttl``, or receipts turned off). One round trip."""
    names = list(settings.providers)
    with converted("reading receipts"):
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(Keys(name, settings.redis.key_prefix).receipt(event_id))
        found = [{as_text(k): as_text(v) for k, v in got.items()} for got in pipe.execute()]
    if not any(found):
        return {}
    return {name: _receipt(fields) for name, fields in zip(names, found, strict=True)}


def _receipt(fields: dict[str, str]) -> dict[str, Any]:
    if not fields:
        return {"state": "skipped", "attempts": 0}
    out: dict[str, Any] = {
        "state": fields.get("state", "pending"),
        "attempts": int(fields.get("attempts") or 0),
        "updated_at": float(fields.get("updated_at") or 0),
    }
    for extra in ("error", "reason"):
        if fields.get(extra):
            out[extra] = fields[extra]
    return out
