"""The Lua state changes of one provider's buffer, against a real redis-server."""

from __future__ import annotations

import json

import pytest
import redis

from tests.helpers import enqueue_call
from tests.store.timetravel import advance
from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import DeadEvent, ProviderQueue, Settlement


@pytest.fixture
def queue(redis_client: redis.Redis) -> ProviderQueue:
    return ProviderQueue(redis_client, Scripts(), Keys("graspil"))


def push(queue: ProviderQueue, count: int, *, max_pending: int = 1000, size: int = 100) -> list:
    k = queue.keys
    raws = [json.dumps({"n": i}) for i in range(count)]
    call = enqueue_call(raws, max_pending=max_pending, claim_size=size)
    return queue.scripts.call(queue.client, call, k)


def test_enqueue_triggers_once_per_full_batch_and_drops_over_max(queue: ProviderQueue) -> None:
    assert push(queue, 99) == [99, 0, 0, 0]
    assert push(queue, 1) == [1, 0, 1, 0]
    assert push(queue, 100) == [100, 0, 0, 0]  # a trigger is already in flight
    assert push(queue, 900, max_pending=1000) == [800, 100, 0, 0]
    counts = queue.counts()
    assert counts["pending"] == 1000 and counts["enqueued"] == 1000 and counts["dropped"] == 100


def test_claim_full_batches_only_unless_flushing(queue: ProviderQueue) -> None:
    push(queue, 150)
    first = queue.claim(lease=30, size=100, flush=False, wait=0)
    assert first is not None and len(first.events) == 100
    assert json.loads(first.events[0]) == {"n": 0}
    assert queue.claim(lease=30, size=100, flush=False, wait=0) is None
    rest = queue.claim(lease=30, size=100, flush=True, wait=0)
    assert rest is not None and len(rest.events) == 50
    assert queue.claim(lease=30, size=100, flush=True, wait=0) is None


def test_settle_splits_outcomes_atomically(queue: ProviderQueue) -> None:
    push(queue, 10)
    batch = queue.claim(lease=30, size=10, flush=True, wait=0)
    assert batch is not None
    result = Settlement(
        delivered=7,
        requests=4,
        retry=batch.events[7:9],
        retry_delay=5,
        last_error="503",
        dead=[DeadEvent(batch.events[9], "bad", "rejected", 400, "{}")],
    )
    assert queue.settle(batch, result)
    counts = queue.counts()
    assert (counts["delivered"], counts["retried"], counts["dead"], counts["in_retry"]) == (
        7,
        2,
        1,
        2,
    )
    assert counts["leased_batches"] == 0 and counts["retry_batches"] == 1
    advance(queue.client, queue.keys, 4.5)
    assert queue.claim(lease=30, size=10, flush=True, wait=0) is None  # not due yet
    advance(queue.client, queue.keys, 0.6)
    again = queue.claim(lease=30, size=10, flush=True, wait=0)
    assert again is not None and again.id == batch.id
    assert again.events == batch.events[7:9] and again.attempts == 1 and again.last_error == "503"
    assert queue.counts()["in_retry"] == 0
    [dead] = queue.dead_letters()
    assert dead["reason"] == "bad" and dead["status"] == "400" and dead["kind"] == "rejected"


def test_a_stale_lease_cannot_settle(queue: ProviderQueue) -> None:
    push(queue, 3)
    batch = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert batch is not None
    advance(queue.client, queue.keys, 11)
    assert queue.reap() == 1
    again = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert again is not None and again.id == batch.id and again.attempts == 1
    assert not queue.settle(batch, Settlement(delivered=3))
    assert not queue.renew(batch, lease=10)
    assert queue.renew(again, lease=10)
    assert queue.settle(again, Settlement(delivered=3))
    assert queue.counts()["delivered"] == 3


def test_settle_closes_the_circuit_and_counts_requests_even_for_a_lost_lease(
    queue: ProviderQueue,
) -> None:
    k = queue.keys
    failing = {"state": "closed", "failures": "2"}
    queue.client.hset(k.circuit, mapping=failing)
    push(queue, 4)
    batch = queue.claim(lease=10, size=2, flush=True, wait=0)
    assert batch is not None
    assert queue.settle(batch, Settlement(delivered=2, timings=[("5xx", 0.3)]))
    assert queue.client.hgetall(k.circuit) == {b"state": b"closed", b"failures": b"2"}
    assert queue.client.hget(k.latency, "status:5xx") == b"1"
    stale = queue.claim(lease=10, size=2, flush=True, wait=0)
    assert stale is not None
    advance(queue.client, k, 11)
    assert queue.reap() == 1
    # The requests of a batch whose lease was lost were made all the same.
    timings = [("2xx", 0.004), ("2xx", 0.02)]
    assert not queue.settle(stale, Settlement(delivered=2, timings=timings, closes_circuit=True))
    assert queue.client.exists(k.circuit) == 0
    latency = {key.decode(): int(n) for key, n in queue.client.hgetall(k.latency).items()}
    assert latency == {
        "count": 3,
        "sum_us": 324_000,
        "le:0.005": 1,
        "le:0.025": 1,
        "le:0.5": 1,
        "status:2xx": 2,
        "status:5xx": 1,
    }
    assert queue.counts()["delivered"] == 2


def test_a_batch_keeps_its_events_whole_in_either_form_and_across_versions(
    redis_client: redis.Redis,
) -> None:
    queue = ProviderQueue(redis_client, Scripts(), Keys("graspil"), receipts_ttl=60)
    k = queue.keys
    compact = {"separators": (",", ":"), "ensure_ascii": False}  # as queued: ids readable
    raws = [json.dumps({"event_id": f"e-{i}", "name": 'a\nb \\ " é'}, **compact) for i in range(3)]
    corrupt = '{"event_id":"e-9",\n"name":"x"}'  # a newline: no line may split it
    redis_client.rpush(k.pending, *raws)
    batch = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert batch is not None and batch.events == raws
    assert redis_client.hkeys(k.batch(batch.id)).count(b"lines") == 1
    # Reaped, it goes back as a JSON array (every version reads that form), and each of its
    # events gets a retry receipt: split from the lines, every event whole.
    advance(redis_client, k, 11)
    assert queue.reap() == 1
    assert redis_client.hexists(k.batch(batch.id), "lines") is False
    assert json.loads(redis_client.hget(k.batch(batch.id), "events")) == raws
    receipts = {}
    for key in redis_client.scan_iter(f"{k.receipts_prefix}*"):
        receipts.update(redis_client.hgetall(key))
    assert sorted(receipts) == [b"e-0", b"e-1", b"e-2"]
    assert {tuple(v.split(b"|")[:2]) for v in receipts.values()} == {(b"retry", b"1")}
    again = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert again is not None and again.id == batch.id and again.events == raws
    # One left in the retry set as lines (by an earlier reap.lua) is read as such.
    redis_client.hset(k.batch("lined"), mapping={"lines": "\n".join(raws), "count": 3})
    redis_client.zadd(k.retry, {"lined": 0})
    lined = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert lined is not None and (lined.id, lined.events) == ("lined", raws)
    assert queue.settle(lined, Settlement(delivered=3))
    # A retry is stored as a JSON array; the other form is gone.
    assert queue.settle(again, Settlement(delivered=1, retry=raws[1:], retry_delay=0))
    assert not redis_client.hexists(k.batch(batch.id), "lines")
    retried = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert retried is not None and retried.events == raws[1:]
    # A corrupt item with a newline makes its batch a JSON array too.
    redis_client.rpush(k.pending, raws[0], corrupt)
    odd = queue.claim(lease=10, size=2, flush=True, wait=0)
    assert odd is not None and odd.events == [raws[0], corrupt]
    assert not redis_client.hexists(k.batch(odd.id), "lines")
    # A retry batch written by an earlier version (events only, as a JSON array).
    redis_client.hset(
        k.batch("old"),
        mapping={"events": json.dumps(raws), "count": 3, "attempts": 2, "last_error": "503"},
    )
    redis_client.zadd(k.retry, {"old": 0})
    old = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert old is not None and (old.id, old.events, old.attempts) == ("old", raws, 2)


def test_reap_leaves_live_leases_alone(queue: ProviderQueue) -> None:
    push(queue, 3)
    assert queue.claim(lease=10, size=3, flush=True, wait=0) is not None
    advance(queue.client, queue.keys, 9)
    assert queue.reap() == 0
    assert queue.counts()["leased_batches"] == 1


def test_caller_ids_are_deduplicated_within_the_window(queue: ProviderQueue) -> None:
    k = queue.keys

    def enqueue(*ids: str) -> list:
        call = enqueue_call([json.dumps({"id": i}) for i in ids], callers=ids, claim_size=100)
        return queue.scripts.call(queue.client, call, k)

    assert enqueue("a", "b", "a") == [2, 0, 0, 1]  # a repeat inside one call too
    advance(queue.client, k, 30)
    assert enqueue("b", "c") == [1, 0, 0, 1]
    advance(queue.client, k, 31)
    assert enqueue("a") == [1, 0, 0, 0]  # a's window has passed, b's has not
    assert enqueue("", "") == [2, 0, 0, 0]  # generated ids are never deduplicated
    assert queue.counts()["deduplicated"] == 2
    assert queue.counts()["pending"] == 6


def test_vanished_batches_are_dropped_counted_and_logged(
    queue: ProviderQueue, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch hash evicted (allkeys-* policy) or deleted by hand: its id must not loop in the
    retry set or the leases forever, nor crash the claim."""
    push(queue, 6)
    leased = queue.claim(lease=10, size=3, flush=True, wait=0)
    retried = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert leased is not None and retried is not None
    queue.settle(retried, Settlement(retry=retried.events, retry_delay=0))
    queue.client.delete(queue.keys.batch(leased.id), queue.keys.batch(retried.id))
    with caplog.at_level("ERROR", "tracking_worker.store"):
        assert queue.claim(lease=10, size=3, flush=True, wait=0) is None
        advance(queue.client, queue.keys, 11)
        assert queue.reap() == 0
    counts = queue.counts()
    assert counts["lost"] == 2 and counts["leased_batches"] == counts["retry_batches"] == 0
    assert sum("vanished" in r.getMessage() for r in caplog.records) == 2


def test_lease_and_due_times_are_redis_time(queue: ProviderQueue) -> None:
    from tests.store.timetravel import redis_now

    push(queue, 3)
    batch = queue.claim(lease=10, size=3, flush=True, wait=0)
    assert batch is not None
    deadline = queue.client.zscore(queue.keys.leases, batch.id)
    assert deadline == pytest.approx(redis_now(queue.client) + 10, abs=2)


def test_dead_letters_beyond_dead_max_are_trimmed_counted_and_logged(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = ProviderQueue(redis_client, Scripts(), Keys("graspil"), dead_max=5)
    push(queue, 8)
    batch = queue.claim(lease=10, size=8, flush=True, wait=0)
    assert batch is not None
    dead = [DeadEvent(raw, "refused", "rejected", 400) for raw in batch.events]
    with caplog.at_level("ERROR", "tracking_worker.store"):
        assert queue.settle(batch, Settlement(dead=dead))
    counts = queue.counts()
    assert counts["dead"] == 8 and counts["dead_stored"] == 5 and counts["dead_trimmed"] == 3
    assert any("dead_max=5" in r.getMessage() for r in caplog.records)
    assert [json.loads(d["event"]) for d in queue.dead_letters()][-1] == {"n": 3}  # oldest kept


def test_a_settled_success_closes_a_failing_circuit_but_not_a_held_pause(
    queue: ProviderQueue,
) -> None:
    """settle.lua closes the circuit for a batch whose every request succeeded, as
    circuit_record does, except a configuration pause (a request sent before it answered)."""
    k = queue.keys
    push(queue, 4)
    for circuit, closed in (
        ({"state": "open", "kind": "failure", "open_until": "1"}, True),
        ({"state": "open", "kind": "configuration", "open_until": "9e12"}, False),
    ):
        queue.client.delete(k.circuit)
        queue.client.hset(k.circuit, mapping=circuit)
        batch = queue.claim(lease=30, size=2, flush=True, wait=0)
        assert batch is not None
        assert queue.settle(batch, Settlement(delivered=2, closes_circuit=True))
        assert (queue.client.exists(k.circuit) == 0) is closed
