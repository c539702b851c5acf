"""The forget scripts against a real redis-server: which events are a person's (the Lua
scripts and person.py agree), chunks that lose nothing while claims and pushes go on, a
leased batch whose settle cannot bring the removed events back, and replay and route resume
that drop them while a forget runs."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from tests.helpers import enqueue_call, wait_for
from tracking_worker.keys import RECEIPT_BUCKET_SECONDS, Keys
from tracking_worker.person import Person
from tracking_worker.settings import build_settings
from tracking_worker.store import codec
from tracking_worker.store.deadletters import DeadLetters
from tracking_worker.store.erasure import LIST_CHUNK, ProviderErasure, Removed
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import DeadEvent, ProviderQueue, Settlement
from tracking_worker.store.routes import Routes

K = Keys("graspil")
TTL = 3600.0
ANN = Person.of(telegram_id=5842703839, email=" Ann@Example.COM ", user_id=42, visitor_id="v-1")
BIG = 2**63 - 1


def raw(**fields: Any) -> str:
    """An event as the wire writes it: the id first, compact, UTF-8 kept."""
    data = {"event_id": fields.pop("event_id", str(uuid.uuid4())), "name": "purchase", **fields}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


#: (event, whether it is Ann's): the cases both matchers must agree on.
CASES: list[tuple[str, bool]] = [
    (raw(telegram_id=5842703839), True),
    (raw(telegram_id=584270383), False),  # a prefix of Ann's id
    (raw(telegram_id=58427038391), False),  # Ann's id with one more digit
    (raw(telegram_id=7, properties={"telegram_id": 5842703839}), False),  # nested: not hers
    (raw(email="ann@example.com"), True),
    (raw(email="ANN@EXAMPLE.com"), True),
    (raw(email="bob@example.com", properties={"note": "ann@example.com"}), False),
    (raw(email="xann@example.com"), False),
    (raw(user_id="42"), True),
    (raw(user_id="420"), False),
    (raw(visitor_id="v-1"), True),
    (raw(visitor_id="V-1"), False),  # ids are compared as they are
    (raw(telegram_id=3, email="c@example.com", user_id="u", visitor_id="v"), False),
    ('{"event_id":"cut","name":"purchase","telegram_id":5842703839,"pro', True),  # corrupt
    ('{"event_id":"cut","name":"purchase","email":"Ann@example.com","pro', True),
    ('{"event_id":"cut","name":"purchase","telegram_id":58427038390', False),
]


def matched_by_lua(client: redis.Redis, person: Person, raws: list[str]) -> list[bool]:
    """Which of ``raws`` forget_list removes from a pending list."""
    client.delete(K.pending)
    client.rpush(K.pending, *raws)
    ProviderErasure(client, Scripts(), K, person, receipts_ttl=TTL, wait=1).run()
    left = {r.decode() for r in client.lrange(K.pending, 0, -1)}
    return [r not in left for r in raws]


def test_lua_and_python_agree_on_which_events_are_the_person_s(redis_client: redis.Redis) -> None:
    raws = [r for r, _ in CASES]
    expected = [mine for _, mine in CASES]
    assert matched_by_lua(redis_client, ANN, raws) == expected
    in_python = [
        ANN.owns(json.loads(r)) if r.endswith("}") else ANN.written_in(r) for r, _ in CASES
    ]
    assert in_python == expected


def test_a_telegram_id_beyond_2_53_matches_by_its_exact_digits(redis_client: redis.Redis) -> None:
    raws = [raw(telegram_id=BIG), raw(telegram_id=BIG - 1)]
    assert matched_by_lua(redis_client, Person.of(telegram_id=BIG), raws) == [True, False]


def test_an_e_mail_with_a_non_ascii_letter_matches_in_its_own_case(
    redis_client: redis.Redis,
) -> None:
    """Only ASCII letters are folded, in Redis and in files alike (person.py)."""
    raws = [raw(email="Äli@Example.com"), raw(email="äli@example.com")]
    assert matched_by_lua(redis_client, Person.of(email="Äli@example.COM"), raws) == [True, False]


def ann_and_others(count: int, every: int) -> list[str]:
    return [
        raw(telegram_id=5842703839 if i % every == 0 else 10_000 + i, event_id=f"e{i}")
        for i in range(count)
    ]


def test_chunks_of_the_pending_list_miss_nothing_while_claims_and_tracks_go_on(
    redis_client: redis.Redis,
) -> None:
    """Between two chunk calls, a claim pops the head and track pushes at the tail: every one
    of Ann's events still in the list is removed, none of the others."""
    scripts = Scripts()
    events = ann_and_others(100, every=7)
    redis_client.rpush(K.pending, *events)
    popped: list[str] = []
    last, done, removed, calls = -1, False, 0, 0
    while not done:
        call = codec.ForgetList(
            parked_prefix=K.parked_prefix,
            route="",
            last=last,
            chunk=10,
            receipts_ttl=TTL,
            receipt_bucket=RECEIPT_BUCKET_SECONDS,
            receipts_prefix=K.receipts_prefix,
            needles=ANN.needles(),
        )
        got, _, last, finished = scripts.call(redis_client, call, K)
        removed, last, done, calls = removed + got, int(last), bool(finished), calls + 1
        popped += [r.decode() for r in redis_client.lpop(K.pending, 3) or []]
        redis_client.rpush(K.pending, raw(telegram_id=77, event_id=f"new{calls}"))
    left = [r.decode() for r in redis_client.lrange(K.pending, 0, -1)]
    assert calls > 3
    assert not any(ANN.owns(json.loads(r)) for r in left)
    ann_popped = [r for r in popped if ANN.owns(json.loads(r))]
    assert removed + len(ann_popped) == len(range(0, 100, 7))
    others = [r for r in events if not ANN.owns(json.loads(r))]
    assert sorted(r for r in left + popped if r in events and r not in ann_popped) == sorted(others)


@pytest.fixture
def queue(redis_client: redis.Redis) -> ProviderQueue:
    return ProviderQueue(redis_client, Scripts(), K, receipts_ttl=TTL)


def test_a_leased_batch_s_settle_brings_none_of_the_removed_events_back(
    queue: ProviderQueue,
) -> None:
    """A worker holds a batch with Ann's events while forget runs, and settles it after forget
    marked it: delivered, retried, dead-lettered and parked, Ann's events among each. Only the
    others are retried, dead, parked or receipted; forget returns once the batch is settled."""
    events = ann_and_others(12, every=3)  # Ann's: e0, e3, e6, e9
    queue.scripts.call(queue.client, enqueue_call(events), K)
    batch = queue.claim(lease=30, size=12, flush=True, wait=0)
    assert batch is not None
    done: list[Removed] = []
    erasure = ProviderErasure(queue.client, Scripts(), K, ANN, receipts_ttl=TTL, wait=30)
    thread = threading.Thread(target=lambda: done.append(erasure.run()))
    thread.start()
    wait_for(lambda: queue.client.hexists(K.batch(batch.id), "forgotten"), 10)
    assert not done, "forget waits for the batch it found leased"
    settled = Settlement(
        delivered=2,
        delivered_ids=["e0", "e1"],
        retry=events[2:6],
        retry_delay=60,
        dead=[DeadEvent(events[6], "bad", "rejected"), DeadEvent(events[7], "bad", "rejected")],
        parked={"purchase": events[8:]},
        pauses={"purchase": "{}"},
    )
    assert queue.settle(batch, settled)
    thread.join(10)
    assert done and done[0].in_flight == 4 and done[0].unsettled == 0
    retried = codec.batch_events(queue.client.hget(K.batch(batch.id), "events"), codec.JSON)
    assert [json.loads(r)["event_id"] for r in retried] == ["e2", "e4", "e5"]
    assert queue.counts()["in_retry"] == 3 and queue.counts()["retried"] == 3
    assert [json.loads(d["event"])["event_id"] for d in queue.dead_letters()] == ["e7"]
    parked = [json.loads(r)["event_id"] for r in queue.client.lrange(K.parked("purchase"), 0, -1)]
    assert parked == ["e8", "e10", "e11"]
    receipts = {
        field.decode()
        for key in queue.client.keys(f"{K.receipts_prefix}*")
        for field in queue.client.hkeys(key)
    }
    assert sorted(receipts) == ["e1", "e2", "e4", "e5", "e7"]
    assert not queue.client.hexists(K.batch(batch.id), "forgotten")


def test_a_retry_batch_loses_the_person_s_events_and_goes_when_emptied(
    queue: ProviderQueue,
) -> None:
    queue.scripts.call(queue.client, enqueue_call(ann_and_others(6, every=2)), K)
    batch = queue.claim(lease=30, size=6, flush=True, wait=0)
    assert batch is not None
    assert queue.settle(batch, Settlement(retry=batch.events, retry_delay=60, last_error="503"))
    only_ann = [raw(telegram_id=5842703839, event_id="alone")]
    queue.scripts.call(queue.client, enqueue_call(only_ann), K)
    lone = queue.claim(lease=30, size=6, flush=True, wait=0)
    assert lone is not None and queue.settle(lone, Settlement(retry=lone.events, retry_delay=60))
    removed = ProviderErasure(queue.client, Scripts(), K, ANN, receipts_ttl=TTL, wait=1).run()
    assert (removed.retry, removed.in_flight, removed.receipts) == (4, 0, 4)
    assert queue.client.zrange(K.retry, 0, -1) == [batch.id.encode()]
    assert not queue.client.exists(K.batch(lone.id))
    assert queue.counts()["in_retry"] == 3
    again = ProviderErasure(queue.client, Scripts(), K, ANN, receipts_ttl=TTL, wait=1).run()
    assert again == Removed()


def announce(client: redis.Redis, seconds: float) -> None:
    call = codec.ForgetGuard(token="run", seconds=seconds, needles=ANN.needles())
    Scripts().call(client, call, K)


def test_replay_and_route_resume_drop_the_events_of_a_person_being_forgotten(
    queue: ProviderQueue,
) -> None:
    """While a forget runs (announced), a dlq replay or a resumed route does not put Ann's
    events back behind the part of pending it may have read; the others go back."""
    ann, bob = raw(telegram_id=5842703839), raw(telegram_id=9)
    queue.scripts.call(queue.client, enqueue_call([ann, bob]), K)
    batch = queue.claim(lease=30, size=2, flush=True, wait=0)
    assert batch is not None
    dead = [DeadEvent(r, "bad", "rejected") for r in batch.events]
    assert queue.settle(batch, Settlement(dead=dead))
    queue.client.rpush(K.parked("signup"), ann, bob)
    queue.client.hset(K.routes, "signup", "{}")
    announce(queue.client, 60)
    settings = build_settings({"providers": {"graspil": {"api_key": "k-123", "targets": {}}}})
    assert DeadLetters(settings, queue.client, "graspil").replay().moved == 1
    assert Routes(queue.client, queue.scripts, K).resume() == (1, 1)
    pending = [json.loads(r)["telegram_id"] for r in queue.client.lrange(K.pending, 0, -1)]
    assert pending == [9, 9]
    assert queue.counts()["dead_stored"] == 0 and int(queue.client.hget(K.stats, "forgotten")) == 2


def test_an_announcement_past_its_time_is_ignored_and_removed(redis_client: redis.Redis) -> None:
    """A forget that died leaves its announcement: past its time, replay and resume go on."""
    redis_client.rpush(K.parked("signup"), raw(telegram_id=5842703839))
    redis_client.hset(K.routes, "signup", "{}")
    entry = {"expires": 1.0, "needles": list(ANN.needles())}
    redis_client.hset(K.forgetting, "dead-run", json.dumps(entry))
    assert Routes(redis_client, Scripts(), K).resume() == (1, 1)
    assert not redis_client.exists(K.forgetting)


@pytest.mark.parametrize(
    "backlog",
    [pytest.param(20_000, id="20k"), pytest.param(100_000, id="100k", marks=pytest.mark.slow)],
)
def test_a_long_backlog_is_read_a_bounded_chunk_per_call(
    redis_client: redis.Redis, backlog: int
) -> None:
    """Each script call reads at most LIST_CHUNK events, so Redis serves others between them;
    prints how long forget took and its longest call, for a person given by four identifiers
    (the README's figures: 100k, ``make test-slow``)."""
    others = [
        raw(
            occurred_at="2024-08-03T18:00:00.123+00:00",
            telegram_id=5_000_000_000 + i,
            email=f"user{i}@example.com",
            value=19.99,
            currency="EUR",
            order_id=f"A-{i}",
            properties={"plan": "pro"},
            queued_at=1722708000.123,
        )
        for i in range(backlog)
    ]  # about 250 bytes each, as track() writes a purchase
    for start in range(0, backlog, 10_000):
        redis_client.rpush(K.pending, *others[start : start + 10_000])
    redis_client.rpush(K.pending, *[raw(telegram_id=5842703839) for _ in range(10)])
    saved = {
        name: redis_client.config_get(name)[name]
        for name in ("slowlog-log-slower-than", "slowlog-max-len")
    }
    redis_client.config_set("slowlog-log-slower-than", 0)  # every call, with its duration
    redis_client.config_set("slowlog-max-len", 10_000)
    redis_client.slowlog_reset()
    try:
        started = time.perf_counter()
        removed = ProviderErasure(redis_client, Scripts(), K, ANN, receipts_ttl=TTL, wait=1).run()
        took = time.perf_counter() - started
        log = redis_client.slowlog_get(10_000)
    finally:
        for name, value in saved.items():
            redis_client.config_set(name, value)
    calls = [e["duration"] / 1000 for e in log if e["command"].startswith(b"EVALSHA")]
    assert removed.pending == 10 and redis_client.llen(K.pending) == backlog
    assert len(calls) >= backlog // LIST_CHUNK + 1  # no call read the whole list
    print(
        f"\nforget on {backlog} pending: {took * 1000:.0f} ms, {len(calls)} script calls, "
        f"longest {max(calls):.1f} ms, Redis busy {sum(calls):.0f} ms"
    )
