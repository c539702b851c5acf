"""Delivery receipts in bucketed hashes, against a real redis-server: written by settle.lua and
reap.lua, read by ``receipt_of`` (with the leased batches and the pending list read for events
in flight or not yet claimed, which have none)."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import pytest
import redis

from tests.store.timetravel import advance, age_receipts, redis_now
from tracking_worker.devtools import demo_settings
from tracking_worker.errors import StoreError
from tracking_worker.keys import RECEIPT_BUCKET_SECONDS, Keys
from tracking_worker.settings import Settings, build_settings
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import Batch, DeadEvent, ProviderQueue, Settlement
from tracking_worker.store.receipts import SCAN_CHUNK, parse_receipt, receipt_of

TTL = 3600.0
W = RECEIPT_BUCKET_SECONDS
GRASPIL, GRAMPIXEL = Keys("graspil"), Keys("grampixel")


def settings(ttl: float = TTL) -> Settings:
    data = demo_settings("redis://127.0.0.1:9/0", "http://127.0.0.1:9")
    data["providers"] = {n: data["providers"][n] for n in ("graspil", "grampixel")}
    data["delivery"] = {**data["delivery"], "receipts_ttl": ttl}
    return build_settings(data)


def queue(client: redis.Redis, ttl: float = TTL) -> ProviderQueue:
    return ProviderQueue(client, Scripts(), GRASPIL, receipts_ttl=ttl)


def event(event_id: str, queued_at: float = 1_700_000_000.25) -> str:
    """A queued event as ``Event.to_json`` writes it: the id first."""
    return json.dumps(
        {"event_id": event_id, "name": "purchase", "telegram_id": 5, "queued_at": queued_at},
        separators=(",", ":"),
    )


def claim_all(q: ProviderQueue, *ids: str) -> Batch:
    q.client.rpush(q.keys.pending, *(event(i) for i in ids))
    batch = q.claim(lease=30, size=len(ids), flush=True, wait=0)
    assert batch is not None
    return batch


def receipt_keys(client: redis.Redis) -> list[Any]:
    return list(client.scan_iter(f"{GRASPIL.receipts_prefix}*"))


def newest_bucket(client: redis.Redis) -> tuple[int, str]:
    """The newest receipts hash of graspil: settle's, even when its claim fell into the bucket
    before (a test may run across a bucket's end)."""
    bucket = max(int(k.decode().rsplit(":", 1)[1]) for k in receipt_keys(client))
    return bucket, GRASPIL.receipts(bucket)


def test_a_claimed_event_is_in_flight_from_its_lease_without_a_receipt(
    redis_client: redis.Redis,
) -> None:
    q = queue(redis_client)
    batch = claim_all(q, "e-10", "e-2")
    assert receipt_keys(redis_client) == []  # claim.lua writes no receipt: the lease says it
    # Changed when the lease was last taken or renewed: its deadline less the lease.
    assert q.renew(batch, lease=settings().delivery.lease_seconds)
    claimed = receipt_of(redis_client, settings(), "e-10")
    assert claimed["graspil"]["state"] == "in_flight" and claimed["graspil"]["attempts"] == 0
    assert abs(claimed["graspil"]["updated_at"] - redis_now(redis_client)) < 5  # Redis time
    assert claimed["grampixel"] == {"state": "skipped", "attempts": 0}
    assert receipt_of(redis_client, settings(), "e-1") == {}  # e-10's prefix is another id
    assert q.settle(batch, Settlement(delivered=2, delivered_ids=["e-10", "e-2"]))
    done = receipt_of(redis_client, settings(), "e-10")["graspil"]
    assert done["state"] == "delivered" and done["attempts"] == 1  # delivered on attempt 1


def test_the_receipt_in_the_newest_bucket_wins(redis_client: redis.Redis) -> None:
    q = queue(redis_client)
    batch = claim_all(q, "e-1")
    assert q.settle(batch, Settlement(retry=batch.events, retry_delay=0, last_error="503"))
    age_receipts(redis_client, GRASPIL)  # the retry receipt now sits a bucket back
    assert receipt_of(redis_client, settings(), "e-1")["graspil"]["state"] == "retry"
    again = q.claim(lease=30, size=10, flush=True, wait=0)
    assert again is not None
    assert q.settle(again, Settlement(delivered=1, delivered_ids=["e-1"]))
    assert len(receipt_keys(redis_client)) == 2  # retry a bucket back, delivered now
    done = receipt_of(redis_client, settings(), "e-1")["graspil"]
    assert done["state"] == "delivered" and done["attempts"] == 2


def test_a_reaped_batch_leaves_a_retry_receipt_per_event(redis_client: redis.Redis) -> None:
    q = queue(redis_client)
    claim_all(q, "e-1", "e-2")
    advance(redis_client, GRASPIL, 31)  # the lease (30 s) expired: its worker died
    assert q.reap() == 1
    for event_id in ("e-1", "e-2"):
        got = receipt_of(redis_client, settings(), event_id)["graspil"]
        assert got["state"] == "retry" and got["attempts"] == 1
        assert got["error"] == "lease expired: worker lost during send"


def test_leased_events_are_found_with_receipts_off(redis_client: redis.Redis) -> None:
    q = queue(redis_client, ttl=0)
    claim_all(q, "e-1")
    got = receipt_of(redis_client, settings(ttl=0), "e-1")
    assert got["graspil"]["state"] == "in_flight"
    assert got["grampixel"] == {"state": "unknown", "attempts": 0}
    assert receipt_keys(redis_client) == []


def test_a_bucket_expires_receipts_ttl_after_it_ends(redis_client: redis.Redis) -> None:
    q = queue(redis_client)
    q.settle(claim_all(q, "e-1", "e-2"), Settlement(delivered=2, delivered_ids=["e-1", "e-2"]))
    bucket, key = newest_bucket(redis_client)
    assert bucket == math.floor(redis_now(redis_client) / W)  # Redis time, as the scripts see it
    ttl_ms = redis_client.pttl(key)
    assert (TTL - 60) * 1000 < ttl_ms <= (TTL + W) * 1000  # kept the ttl, at most a bucket more
    assert redis_client.hlen(key) == 2


def test_retry_then_dead_keep_attempts_and_text_holding_pipes(redis_client: redis.Redis) -> None:
    q = queue(redis_client)
    error = "HTTP 503 | upstream said: a|b||c"
    batch = claim_all(q, "e-1")
    retry = Settlement(retry=batch.events, retry_delay=1, last_error=error)
    assert q.settle(batch, retry)
    first = receipt_of(redis_client, settings(), "e-1")["graspil"]
    assert first["state"] == "retry" and first["attempts"] == 1 and first["error"] == error

    advance(redis_client, GRASPIL, 2)  # the retry is due
    again = q.claim(lease=30, size=10, flush=True, wait=0)
    assert again is not None and again.attempts == 1
    # Sent again, its lease is the newer state: the retry receipt stays, but is not shown.
    flying = receipt_of(redis_client, settings(), "e-1")["graspil"]
    assert flying["state"] == "in_flight" and flying["attempts"] == 1 and "error" not in flying

    dead = DeadEvent(again.events[0], "rejected | user unknown", "rejected", 400)
    assert q.settle(again, Settlement(dead=[dead]))
    final = receipt_of(redis_client, settings(), "e-1")["graspil"]
    assert final["state"] == "dead" and final["attempts"] == 2
    assert final["reason"] == "rejected | user unknown"


def test_each_event_of_a_batch_gets_its_own_outcome(redis_client: redis.Redis) -> None:
    q = queue(redis_client)
    batch = claim_all(q, "e-1", "e-2", "e-3", "e-4", "e-5")
    dead = [
        DeadEvent(batch.events[2], "unknown user", "rejected", 400),
        DeadEvent(batch.events[3], "unknown user", "rejected", 400),
        DeadEvent(batch.events[4], "too old", "expired"),
    ]
    settled = Settlement(
        delivered=1, delivered_ids=["e-1"], retry=batch.events[1:2], last_error="503", dead=dead
    )
    assert q.settle(batch, settled)
    got = {
        i: receipt_of(redis_client, settings(), i)["graspil"]
        for i in ("e-1", "e-2", "e-3", "e-4", "e-5")
    }
    assert [got[i]["state"] for i in sorted(got)] == ["delivered", "retry", "dead", "dead", "dead"]
    assert got["e-2"]["error"] == "503"
    assert [got[i]["reason"] for i in ("e-3", "e-4", "e-5")] == ["unknown user"] * 2 + ["too old"]


def test_a_value_parses_back_with_pipes_in_its_text() -> None:
    assert parse_receipt("retry|3|1700000000123|a|b|") == {
        "state": "retry",
        "attempts": 3,
        "updated_at": 1_700_000_000.123,
        "error": "a|b|",
    }
    assert parse_receipt("delivered|1|1700000000000|") == {
        "state": "delivered",
        "attempts": 1,
        "updated_at": 1_700_000_000.0,
    }
    with pytest.raises(StoreError, match="not a receipt"):
        parse_receipt("something else")


def test_a_pending_event_is_found_by_scanning_its_list(redis_client: redis.Redis) -> None:
    count = 2 * SCAN_CHUNK + 1000  # several chunks, the last one partial
    events = [event(f"e-{n}", 1000.0 + n) for n in range(count)]
    for start in range(0, count, 1000):
        redis_client.rpush(GRASPIL.pending, *events[start : start + 1000])
    redis_client.rpush(GRASPIL.pending, event("e-10", 9999.0))  # the tail: a later copy of e-10
    edge = count + 1 - SCAN_CHUNK  # the first item of the first chunk read
    picks = {
        "e-0": 1000.0,  # the head, read last
        "e-10": 9999.0,  # the tail, read first: the newest copy wins
        f"e-{count - 1}": 1000.0 + count - 1,
        f"e-{edge}": 1000.0 + edge,  # either side of a chunk's edge
        f"e-{edge - 1}": 1000.0 + edge - 1,
    }
    for event_id, queued_at in picks.items():
        found = receipt_of(redis_client, settings(), event_id)
        assert found == {
            "graspil": {"state": "pending", "attempts": 0, "updated_at": queued_at},
            "grampixel": {"state": "skipped", "attempts": 0},
        }
    assert receipt_of(redis_client, settings(), "e-") == {}  # a prefix of ids is not an id
    assert receipt_of(redis_client, settings(), "no-such-event") == {}


def test_receipts_off_write_nothing_and_pending_is_still_found(redis_client: redis.Redis) -> None:
    q = queue(redis_client, ttl=0)
    batch = claim_all(q, "e-1", "e-2", "e-3")
    result = Settlement(
        delivered=1,
        delivered_ids=["e-1"],
        retry=[batch.events[1]],
        last_error="503",
        dead=[DeadEvent(batch.events[2], "bad", "rejected", 400)],
    )
    assert q.settle(batch, result)
    assert receipt_keys(redis_client) == []
    assert receipt_of(redis_client, settings(0), "e-1") == {}

    redis_client.rpush(GRASPIL.pending, event("e-4", 42.0))
    assert receipt_of(redis_client, settings(0), "e-4") == {
        "graspil": {"state": "pending", "attempts": 0, "updated_at": 42.0},
        "grampixel": {"state": "unknown", "attempts": 0},  # no receipts: cannot tell
    }


def test_a_bucket_of_the_wrong_type_fails_the_read_never_a_state_change(
    redis_client: redis.Redis,
) -> None:
    current = math.floor(redis_now(redis_client) / W)
    for bucket in (current, current + 1):  # the claim may fall just past a bucket's end
        redis_client.set(GRASPIL.receipts(bucket), "not a hash")
    q = queue(redis_client)
    batch = claim_all(q, "e-1")
    assert q.settle(batch, Settlement(delivered=1, delivered_ids=["e-1"]))
    assert q.counts()["delivered"] == 1
    claim_all(q, "e-2")
    advance(redis_client, GRASPIL, 31)  # its lease expired
    assert q.reap() == 1
    with pytest.raises(StoreError, match="reading receipts"):
        receipt_of(redis_client, settings(), "e-1")


def test_a_receipt_costs_under_150_bytes(redis_client: redis.Redis) -> None:
    count = 10_000
    ids = [str(uuid.uuid4()) for _ in range(count)]
    q = queue(redis_client)
    batch = claim_all(q, *ids)
    assert q.settle(batch, Settlement(delivered=count, delivered_ids=ids))
    _, key = newest_bucket(redis_client)  # every delivered receipt of the batch: one bucket
    assert redis_client.hlen(key) == count
    per = redis_client.memory_usage(key, samples=0) / count
    print(f"bytes per receipt: {per:.1f} ({count} delivered receipts, uuid ids)")
    assert per < 150
