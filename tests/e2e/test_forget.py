"""forget end to end: a person's events found and removed in every place they can be, each
place built by the code that fills it (track, delivery against a failing or refusing sandbox,
a claim, the spool of a web process that lost Redis), and forget while a real worker drains
a backlog holding them: none of them is sent after it returns, nobody else's event is lost
or sent twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

import tracking_worker
from tests.helpers import wait_for
from tests.store.timetravel import advance
from tests.system import System
from tracking_worker.devtools import free_port
from tracking_worker.erasure import ForgetReport
from tracking_worker.keys import Keys
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store.erasure import Removed
from tracking_worker.store.queue import Settlement
from tracking_worker.worker.process import WorkerProcess

ANN = 777
K = Keys("graspil")


def purchase(telegram_id: int, name: str = "purchase") -> dict[str, Any]:
    return {"name": name, "telegram_id": telegram_id, "email": f"p{telegram_id}@example.com"}


def held_anywhere(client: redis.Redis) -> str:
    """Every value of every key, as text: what Redis still holds."""
    parts: list[str] = []
    for key in client.scan_iter():
        kind = client.type(key).decode()
        if kind == "list":
            parts += [v.decode() for v in client.lrange(key, 0, -1)]
        elif kind == "hash":
            parts += [f"{k.decode()}={v.decode()}" for k, v in client.hgetall(key).items()]
        elif kind == "stream":
            parts += [
                json.dumps({k.decode(): v.decode() for k, v in f.items()})
                for _, f in client.xrange(key)
            ]
        elif kind == "zset":
            parts += [v.decode() for v in client.zrange(key, 0, -1)]
        elif kind == "string":
            parts.append(client.get(key).decode())
    return "\n".join(parts)


def telegram_ids(raws: list[bytes]) -> list[int]:
    return [json.loads(r)["telegram_id"] for r in raws]


def test_forget_finds_the_person_in_every_place_and_only_them(
    redis_url: str, redis_client: redis.Redis, sandbox: SandboxServer, tmp_path: Path
) -> None:
    conf = {**provider_settings(sandbox.url)["graspil"], "read_timeout": 2.0}
    conf["targets"] = {"purchase": 12, "signup": 99}  # the sandbox knows no target 99
    delivery = {"breaker_threshold": 1, "breaker_cooldown": 600, "flush_interval": 1.0}
    data = {
        "redis": {"url": redis_url},
        "producer": {"spool_dir": str(tmp_path / "spool")},
        "delivery": delivery,
        "providers": {"graspil": conf},
    }
    settings = load_settings(data, environ={})
    live = Tracker(settings)
    live.trigger = lambda name: None
    worker = WorkerProcess(settings, lambda name, flush: None)  # a worker's, minus Celery
    d = worker.deliverers["graspil"]

    def deliver(*events: dict[str, Any]) -> list[str]:
        ids = live.track_many(events)
        advance(redis_client, K, 1.0)  # aged: a flush takes them
        d.run(flush=True)
        return ids

    sandbox.reject_matching("graspil", "user_id", ANN)
    sandbox.reject_matching("graspil", "user_id", 500)
    ann_ids = deliver(purchase(ANN), purchase(ANN), purchase(500), purchase(1), purchase(2))[:2]
    ann_ids += deliver(purchase(ANN, "signup"), purchase(600, "signup"))[:1]  # route paused
    sandbox.add_fault("graspil", 503, count=1)
    ann_ids += deliver(purchase(ANN), purchase(601))[:1]  # retried; the circuit opens
    ann_ids += live.track_many([purchase(ANN), purchase(602)])[:1]
    advance(redis_client, K, 1.0)
    leased = d.queue.claim(lease=60, size=100, flush=True, wait=0)  # a worker sends it
    ann_ids += live.track_many([purchase(ANN), purchase(603), purchase(ANN), purchase(604)])[::2]
    counts = d.queue.counts()
    assert leased is not None and len(leased.events) == 2
    assert (counts["dead_stored"], counts["retry_batches"], counts["pending"]) == (3, 1, 4)
    assert redis_client.llen(K.parked("signup")) == 2
    lost = {**data, "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"}}
    ann_ids += spool_and_quarantine(load_settings(lost, environ={}), live)

    report = forget_while_leased(settings, redis_client, leased.id, lambda: settle(d, leased))

    assert report.providers == {
        "graspil": Removed(pending=2, retry=1, in_flight=1, parked=1, dead=2, receipts=3)
    }
    assert (report.files.spool, report.files.quarantine, report.unsettled) == (1, 1, 0)
    everything = held_anywhere(redis_client) + spooled(tmp_path / "spool")
    assert len(ann_ids) == 9 and not [i for i in ann_ids if i in everything]
    assert telegram_ids(redis_client.lrange(K.pending, 0, -1)) == [603, 604]
    assert telegram_ids(redis_client.lrange(K.parked("signup"), 0, -1)) == [600]
    assert [json.loads(e["event"])["telegram_id"] for e in d.queue.dead_letters()] == [500]
    retrying = [
        json.loads(redis_client.hget(K.batch(i.decode()), "events"))
        for i in redis_client.zrange(K.retry, 0, -1)
    ]
    assert sorted(telegram_ids([r.encode() for batch in retrying for r in batch])) == [601, 602]
    assert '"telegram_id":605' in spooled(tmp_path / "spool")

    again = tracking_worker.forget(telegram_id=ANN, settings=settings)
    assert again.removed == 0 and again.providers["graspil"] == Removed()


def spool_and_quarantine(lost: Settings, live: Tracker) -> list[str]:
    """A web process that lost Redis spools Ann's event and 605's; one of Ann's lines was cut
    short by a crash, and the drain that found it put it in quarantine."""
    down = Tracker(lost)
    try:
        cut = down.track(**purchase(ANN))
        [path] = down.spool.directory.glob("spool-*")
        path.write_bytes(path.read_bytes()[:-30])  # the end of the line never reached disk
        assert live.drain_spool() == 0 and live.spool.quarantined() == 1
        return [cut, down.track(**purchase(ANN)), down.track(**purchase(605))][:2]
    finally:
        down.close()


def spooled(spool: Path) -> str:
    return "\n".join(p.read_text() for p in spool.rglob("*.jsonl"))


def settle(d: Any, batch: Any) -> None:
    """The worker's answer came back 503: it settles the whole batch for a retry."""
    assert d.queue.settle(batch, Settlement(retry=batch.events, retry_delay=60, last_error="503"))


def forget_while_leased(
    settings: Settings, client: redis.Redis, batch_id: str, settle_now: Callable[[], None]
) -> ForgetReport:
    """forget runs while a worker holds ``batch_id``; the worker settles once forget has
    marked it, and forget returns after that."""
    done: list[ForgetReport] = []
    thread = threading.Thread(
        target=lambda: done.append(tracking_worker.forget(telegram_id=ANN, settings=settings))
    )
    thread.start()
    wait_for(lambda: client.hexists(Keys("graspil").batch(batch_id), "forgotten"), 15)
    assert not done
    settle_now()
    thread.join(15)
    assert done
    return done[0]


def test_forget_during_a_drain_sends_nothing_of_theirs_after_it_returns(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    """A worker drains a backlog holding Ann's events: 2,000 to Graspil (batches of 10, 300 ms
    an answer; one in 25 hers), the first 300 also to GramPixel (one event a request over 4
    connections, 100 ms; one in 5 hers, so the batches it is sending hold some). forget in the
    middle of it: no request that reaches the sandbox after forget returned carries Ann, and
    every other event arrives once."""
    sandbox.set_latency("graspil", 0.3)
    sandbox.set_latency("grampixel", 0.1)
    overrides = {"graspil": {"batch_size": 10}, "grampixel": {"max_connections": 4}}
    system = make_system(providers=["graspil", "grampixel"], provider_overrides=overrides)
    shared = [ANN if n % 5 == 0 else n for n in range(1, 301)]
    graspil_only = [ANN if n % 25 == 0 else n for n in range(301, 2001)]
    ids = {"graspil": shared + graspil_only, "grampixel": shared}
    system.tracker.track_many(
        [purchase(n) for n in shared]
        + [{**purchase(n), "providers": ["graspil"]} for n in graspil_only]
    )
    wait_for(lambda: len(sandbox.received("grampixel")) >= 60, 30, message=system.log())
    wait_for(lambda: len(sandbox.received("graspil")) >= 100, 30, message=system.log())
    report = tracking_worker.forget(telegram_id=ANN, settings=system.settings)
    returned = time.time()
    print(f"\nforget during the drain: {json.dumps(report.as_json())}")
    both = ("graspil", "grampixel")
    wait_for(lambda: all(drained(system, p) for p in both), 60, message=system.log())

    for provider, field in (("graspil", "user_id"), ("grampixel", "telegram_id")):
        removed = report.providers[provider]
        assert removed.events > 0 and removed.unsettled == 0, (provider, removed)
        late = [r for r in sandbox.requests(provider) if r["timestamp"] >= returned]
        assert not [r for r in late if ANN in carried(r["body"], field)], provider
        got = Counter(item[field] for item in sandbox.received(provider))
        ann_sent = got.pop(ANN, 0)
        assert got == Counter(n for n in ids[provider] if n != ANN), provider  # each once
        assert ann_sent + removed.events >= ids[provider].count(ANN) >= ann_sent, provider
    assert report.providers["grampixel"].in_flight > 0  # forget met batches being sent
    assert f'"telegram_id":{ANN}' not in held_anywhere(system.tracker.client)


def carried(body: Any, field: str) -> list[Any]:
    items = body if isinstance(body, list) else [body]
    return [item.get(field) for item in items if isinstance(item, dict)]


def drained(system: System, provider: str) -> bool:
    c = system.counts(provider)
    return c["pending"] == 0 and not (c["leased_batches"] or c["retry_batches"])
