"""When a batch goes out: full at once, partial only once aged. The rule as a pure function,
and claim.lua / due.lua held to it against a real Redis."""

from __future__ import annotations

import json

import pytest
import redis

from tests.helpers import enqueue_call
from tests.store.timetravel import advance
from tracking_worker.delivery.policy import take_from_pending
from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue

FULL, WAIT = 100, 2.0

#: pending, seconds the oldest has waited, flush, events taken
TABLE = [
    (0, 99.0, True, 0),  # nothing pending
    (100, 0.0, False, 100),  # full: at once, flush or not
    (250, 0.0, True, 100),  # more than full: one full batch per claim
    (99, 0.0, True, 0),  # partial and young: it waits to fill
    (99, 1.9, True, 0),
    (99, 2.0, True, 99),  # aged: all of it goes
    (1, 60.0, True, 1),
    (99, 60.0, False, 0),  # a trigger for a full batch never takes a partial one
]


@pytest.mark.parametrize(("pending", "waited", "flush", "taken"), TABLE)
def test_the_rule(pending: int, waited: float, flush: bool, taken: int) -> None:
    assert take_from_pending(pending, full=FULL, waited=waited, wait=WAIT, flush=flush) == taken


@pytest.mark.parametrize(("pending", "waited", "flush", "taken"), TABLE)
def test_claim_and_due_follow_the_rule(
    redis_client: redis.Redis, pending: int, waited: float, flush: bool, taken: int
) -> None:
    queue = ProviderQueue(redis_client, Scripts(), Keys("graspil"))
    k = queue.keys
    if pending:
        raws = [json.dumps({"n": n}) for n in range(pending)]
        queue.scripts.call(redis_client, enqueue_call(raws), k)
        redis_client.set(k.since, float(redis_client.get(k.since)) - waited)
    due = queue.due(full=FULL, wait=WAIT)
    batch = queue.claim(lease=30, size=FULL, flush=flush, wait=WAIT)
    assert (len(batch.events) if batch else 0) == taken
    if flush:
        assert due == bool(taken)
    if taken == pending and pending:
        assert not redis_client.exists(k.since)  # emptied: the next event starts a new wait


def test_the_wait_starts_with_the_first_event_of_an_empty_list(redis_client: redis.Redis) -> None:
    queue = ProviderQueue(redis_client, Scripts(), Keys("graspil"))
    k = queue.keys
    one = enqueue_call(["{}"])
    queue.scripts.call(redis_client, one, k)
    first = float(redis_client.get(k.since))
    queue.scripts.call(redis_client, one, k)
    assert float(redis_client.get(k.since)) == first  # later events do not restart it
    assert queue.claim(lease=30, size=FULL, flush=True, wait=WAIT) is None
    redis_client.set(k.since, first - WAIT)  # as if two seconds had passed
    advance(redis_client, k, 0)
    batch = queue.claim(lease=30, size=FULL, flush=True, wait=WAIT)
    assert batch is not None and len(batch.events) == 2
