"""The Deliverer as a worker process builds it: claim sizes that fit a rate limit."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis

from tests.helpers import enqueue_call
from tests.store.timetravel import advance
from tracking_worker.delivery import sender
from tracking_worker.delivery.deliverer import Deliverer, RunReport
from tracking_worker.delivery.transport import Transport
from tracking_worker.errors import StoreUnavailable
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.outcomes import Delivered, Retry
from tracking_worker.redact import Redactor
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import load_settings
from tracking_worker.store.circuit import FAILURE, Circuit
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue
from tracking_worker.store.runs import RunSlot, beat_node
from tracking_worker.worker.observability import JsonFormatter


def build(
    client: redis.Redis,
    name: str,
    conf: dict[str, object],
    delivery: dict[str, object],
    *,
    stopping: Callable[[], bool] = lambda: False,
) -> Deliverer:
    """A Deliverer of ``name`` as a worker process builds it."""
    settings = load_settings({"delivery": delivery, "providers": {name: conf}}, environ={})
    p = settings.build_providers()[name]
    scripts, keys = Scripts(), Keys(name)
    return Deliverer(
        p,
        ProviderQueue(client, scripts, keys),
        Circuit(client, scripts, keys, settings.delivery),
        Transport(max_connections=4, timeout=p.timeout),
        ThreadPoolExecutor(4),
        settings.delivery,
        stopping=stopping,
    )


def test_claims_fit_the_rate_limit_within_half_a_lease(redis_client: redis.Redis) -> None:
    conf = provider_settings("http://127.0.0.1:9")["grampixel"]
    d = build(redis_client, "grampixel", {**conf, "rate_limit": 0.4}, {})
    assert d.claim_size == 12  # 0.4 req/s * 60 s / 2
    assert d.provider.claim_size(60.0) == 12
    assert build(redis_client, "grampixel", conf, {}).claim_size == 128  # 8 x 16 connections


def sandboxed(
    client: redis.Redis,
    sandbox: SandboxServer,
    name: str,
    *,
    stopping: Callable[[], bool] = lambda: False,
    **delivery: object,
) -> Deliverer:
    """A Deliverer of ``name`` pointed at the sandbox."""
    conf = {**provider_settings(sandbox.url)[name], "connect_timeout": 0.5, "read_timeout": 2.0}
    return build(client, name, conf, delivery, stopping=stopping)


def enqueue(d: Deliverer, events: list[Event]) -> None:
    k = d.queue.keys
    d.queue.scripts.call(d.queue.client, enqueue_call(e.to_json() for e in events), k)
    advance(d.queue.client, k, d.delivery.flush_interval)  # aged: a flush takes them


def purchases(n: int, *, queued_at: float | None = None) -> list[Event]:
    stamp = time.time() if queued_at is None else queued_at
    return [
        Event(
            f"e-{i}",
            "purchase",
            "2024-01-01T00:00:00.000+00:00",
            telegram_id=100 + i,
            value=1.0,
            currency="USD",
            queued_at=stamp,
        )
        for i in range(n)
    ]


def open_until_due(d: Deliverer) -> None:
    """Open the circuit as failures do, then let its cooldown pass (in Redis, no waiting)."""
    for _ in range(d.delivery.breaker_threshold):
        d.circuit.record(FAILURE, reason="503")
    advance(d.queue.client, d.queue.keys, d.delivery.breaker_cooldown + 0.1)


def test_a_half_open_probe_is_one_request_for_a_one_event_provider(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    d = sandboxed(redis_client, sandbox, "grampixel")
    enqueue(d, purchases(40))
    sandbox.add_fault("grampixel", 503, duration=60)
    d.run(flush=True)  # failures: the 40 wait in one retry batch, the circuit opens
    first = len(sandbox.requests("grampixel"))
    assert d.circuit.state()["state"] == "open" and d.queue.counts()["retry_batches"] == 1
    advance(redis_client, d.queue.keys, 400)  # past the cooldown and the batch's backoff
    report = d.run(flush=True)
    assert len(sandbox.requests("grampixel")) - first == 1  # the probe: one request, not 40
    assert d.circuit.state()["state"] == "open" and report.paused
    counts = d.queue.counts()
    assert counts["pending"] + counts["in_retry"] == 40 and counts["dead"] == 0


def test_a_successful_probe_closes_and_the_rest_follows(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    d = sandboxed(redis_client, sandbox, "grampixel")
    enqueue(d, purchases(10))
    open_until_due(d)
    d.run(flush=True)
    assert d.circuit.state() == {"state": "closed"}
    assert d.queue.counts()["delivered"] == 10 and len(sandbox.received("grampixel")) == 10


def test_a_probe_that_claims_nothing_gives_the_slot_back(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    d = sandboxed(redis_client, sandbox, "grampixel")
    open_until_due(d)
    d.run(flush=True)
    assert d.circuit.allow().allowed  # not held for a whole probe lease


def test_a_round_that_sent_nothing_leaves_the_circuit_as_it_was(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    d = sandboxed(redis_client, sandbox, "grampixel", max_age=60)
    enqueue(d, purchases(5, queued_at=time.time() - 3600))  # all expired before sending
    open_until_due(d)
    before = d.circuit.state()
    d.run(flush=True)
    after = d.circuit.state()
    assert sandbox.requests("grampixel") == []
    assert after["state"] != "closed" and after["opens"] == before["opens"]
    assert d.queue.counts()["dead"] == 5


def test_a_batching_provider_has_a_request_in_flight_per_connection(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """Graspil takes 100 events a request: once rounds succeed, a round claims one batch per
    connection and sends them together, each with its own id and lease (1, 2, then 4 at once)."""
    conf = {**provider_settings(sandbox.url)["graspil"], "max_connections": 4}
    d = build(redis_client, "graspil", conf, {})
    assert d.parallel == 4
    enqueue(d, purchases(800))
    sandbox.set_latency("graspil", 0.3)
    report = d.run(flush=True)
    starts = sorted(r["timestamp"] for r in sandbox.requests("graspil"))
    assert report.delivered == 800 and len(starts) == 8
    together = [sum(abs(t - u) < 0.1 for u in starts) for t in starts]
    assert together == [1, 2, 2, 4, 4, 4, 4, 1]
    latency = redis_client.hgetall(Keys("graspil").latency)  # what the exporter reads
    assert latency[b"count"] == latency[b"status:2xx"] == b"8"
    assert latency[b"le:0.5"] == b"8"  # each took 0.3 s and a little


def test_a_quick_run_recruits_help_while_the_live_processes_allow_more_runs(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    conf = {**provider_settings(sandbox.url)["graspil"], "max_connections": 1}
    d = build(redis_client, "graspil", conf, {})
    assert d.per_run == 200  # two rounds of one batch of 100
    recruited: list[int] = []

    def run() -> RunReport:
        return d.run(flush=True, recruit=lambda: recruited.append(1), node="a")

    enqueue(d, purchases(1000))
    assert run().delivered == 1000 and recruited == []  # no worker node known: one run
    beat_node(redis_client, d.queue.scripts, d.queue.keys, node="a", processes=2, lapse=5)
    enqueue(d, purchases(1000))
    assert run().delivered == 1000 and recruited  # quick rounds, a backlog, a free process
    assert redis_client.hlen(d.queue.keys.runs) == 0  # released as the run ended


def test_a_slow_provider_gives_a_nodes_second_process_back_after_one_round(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    conf = {**provider_settings(sandbox.url)["graspil"], "max_connections": 1}
    d = build(redis_client, "graspil", conf, {"run_seconds": 1.0})
    k = d.queue.keys
    beat_node(redis_client, d.queue.scripts, k, node="a", processes=2, lapse=5)
    enqueue(d, purchases(600))
    sandbox.set_latency("graspil", 1.2)  # slower than FAST_REQUEST
    recruited: list[int] = []
    report = d.run(flush=True, recruit=lambda: recruited.append(1), node="a")
    # One recruit as it started (another node's first run may join whatever the speed), none
    # after its slow round; then run_seconds was over.
    assert report.delivered == 100 and report.more and recruited == [1]
    first = RunSlot(redis_client, d.queue.scripts, k, node="a", lapse=5, cap=16, per_run=200)
    assert first.take().done and first.hold(fast=True).done  # the node's first run, quick
    report = d.run(flush=True, recruit=lambda: recruited.append(1), node="a")
    assert report.delivered == 100 and not report.more  # second on its node, slow: it ends
    assert recruited == [1] and d.queue.counts()["pending"] == 400


def test_dead_letters_and_refused_keys_are_reported_once_per_kind(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """What the worker hands to Sentry (grouped there by provider and kind)."""
    reports: list[tuple[str, str, str, int]] = []
    d = sandboxed(redis_client, sandbox, "graspil")
    d.report = lambda *args: reports.append(args)
    sandbox.reject_matching("graspil", "user_id", 103)
    sandbox.reject_matching("graspil", "user_id", 104)
    enqueue(d, purchases(10))
    d.run(flush=True)
    assert [(kind, provider, count) for kind, provider, _, count in reports] == [
        ("rejected", "graspil", 2)
    ]
    sandbox.set_credentials("graspil", api_key="a-rotated-key")
    enqueue(d, purchases(3))
    d.run(flush=True)
    assert reports[-1][:2] == ("credentials", "graspil") and reports[-1][3] == 1
    assert "sandbox-graspil-key" not in reports[-1][2]


def test_one_log_line_per_batch_outcome_plain_and_json(
    redis_client: redis.Redis, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    d = sandboxed(redis_client, sandbox, "graspil")
    sandbox.reject_matching("graspil", "user_id", 101)
    enqueue(d, [replace(e, email="ann@example.test") for e in purchases(4)])
    with caplog.at_level("INFO", "tracking_worker.delivery"):
        d.run(flush=True)
    lines = [r for r in caplog.records if ": batch " in r.getMessage()]
    assert len(lines) == 1
    text = lines[0].getMessage()
    assert "4 event(s), 5 request(s) [2xx:2 4xx:3]" in text  # the bisect of one bad event
    assert ": mixed (delivered 3, retry 0, dead 1, dropped 0)" in text
    data = json.loads(JsonFormatter(Redactor(d.provider.secrets)).format(lines[0]))
    assert (data["provider"], data["events"], data["outcome"]) == ("graspil", 4, "mixed")
    assert data["statuses"] == {"4xx": 3, "2xx": 2}
    assert "ann@example.test" not in json.dumps(data)
    assert "sandbox-graspil-key" not in json.dumps(data)


def test_a_batch_sent_from_its_round_renews_its_lease_and_stops_when_it_cannot(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """A batching provider's batch goes out from the round's own thread: a long bisect renews
    the lease between its requests, and once a renewal fails (Redis unreachable) it sends no
    more of the batch (another worker may have it by then)."""
    conf = {
        **provider_settings(sandbox.url)["graspil"],
        "connect_timeout": 0.3,
        "read_timeout": 0.8,
    }
    d = build(redis_client, "graspil", conf, {"lease_seconds": 1.2})
    sandbox.set_latency("graspil", 0.25)
    sandbox.reject_matching("graspil", "user_id", 140)  # one bad event in 64: a long bisect
    items = [(e.to_json(), e) for e in purchases(64)]
    renewals: list[float] = []

    def renew() -> bool:
        renewals.append(time.monotonic())
        return True

    sent = d.sender.send(items, keep_alive=renew)
    assert not sent.lease_lost and sent.requests >= 8 and len(renewals) >= 2
    assert sum(1 for _, o in sent.results if isinstance(o, Delivered)) == 63

    def unreachable() -> bool:
        raise StoreUnavailable("renewing: Redis unavailable")

    sandbox.reset()
    sandbox.set_latency("graspil", 0.25)
    sandbox.reject_matching("graspil", "user_id", 140)
    cut = d.sender.send(items, keep_alive=unreachable)
    assert cut.lease_lost and cut.requests < sent.requests
    unsent = [o for _, o in cut.results if isinstance(o, Retry) and not o.sent]
    assert unsent and all("lease ran out" in o.reason for o in unsent)
    assert len(cut.results) == 64  # every event still has exactly one outcome


def test_a_batch_whose_lease_may_have_run_out_before_its_first_request_sends_nothing(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """The hold runs from the claim, not from the send: a worker frozen between its claim and
    its first request (SIGSTOP, a stopped VM) renews before sending anything, and sends
    nothing when the lease is gone (another worker may have the batch by then)."""
    d = sandboxed(redis_client, sandbox, "graspil")
    enqueue(d, purchases(3))
    batch = d.queue.claim(lease=d.delivery.lease_seconds, size=10, flush=True, wait=0)
    assert batch is not None and batch.claimed_at <= time.monotonic()
    assert len(batch.events) == 3
    items = [(raw, Event.from_json(raw)) for raw in batch.events]
    frozen = time.monotonic() - d.delivery.lease_seconds * 2 / 3  # claimed a hold ago
    asked: list[int] = []

    def reaped() -> bool:
        asked.append(len(sandbox.requests("graspil")))
        return False

    cut = d.sender.send(items, keep_alive=reaped, since=frozen)
    assert cut.lease_lost and cut.requests == 0 and sandbox.requests("graspil") == []
    assert asked == [0]  # asked Redis before the first request
    assert [o.sent for _, o in cut.results if isinstance(o, Retry)] == [False] * 3

    def held() -> bool:
        asked.append(len(sandbox.requests("graspil")))
        return True  # not reaped yet: nobody else can have it, so it may still go

    kept = d.sender.send(items, keep_alive=held, since=frozen)
    assert not kept.lease_lost and kept.requests == 1 and asked == [0, 0]
    fresh = d.sender.send(items, keep_alive=held, since=batch.claimed_at)
    assert not fresh.lease_lost and fresh.requests == 1 and asked == [0, 0]  # no renewal due


def test_a_pooled_batch_renews_before_its_first_request_and_stops_when_it_cannot(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """A one-event API's batch goes out through the pool while the round's thread renews the
    lease: a worker frozen since its claim asks Redis before the pool sends anything, and a
    renewal that cannot reach Redis stops the batch as a lost lease, not an exception."""
    d = sandboxed(redis_client, sandbox, "grampixel")
    items = [(e.to_json(), e) for e in purchases(6)]
    due = time.monotonic() - d.delivery.lease_seconds / 3  # a renewal is due, still held
    frozen = time.monotonic() - d.delivery.lease_seconds * 2 / 3  # claimed a hold ago

    def unreachable() -> bool:
        raise StoreUnavailable("renewing: Redis unavailable")

    cut = d.sender.send(items, keep_alive=unreachable, since=due)
    assert cut.lease_lost and cut.requests == 0 and sandbox.requests("grampixel") == []
    assert len(cut.results) == 6 and all(isinstance(o, Retry) for _, o in cut.results)
    asked: list[int] = []

    def held() -> bool:
        asked.append(len(sandbox.requests("grampixel")))
        return True

    kept = d.sender.send(items, keep_alive=held, since=frozen)
    assert not kept.lease_lost and kept.requests == 6 and asked[0] == 0
    assert sum(1 for _, o in kept.results if isinstance(o, Delivered)) == 6


def test_a_stopped_run_settles_what_it_sent_and_gives_the_rest_back_due_now(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """Stopped mid-batch (the worker is shutting down), a run starts no request and claims
    nothing more; the events it delivered are settled, the unsent rest is a retry batch due at
    once, no attempt used, so another worker sends it without waiting out a lease."""
    sandbox.set_latency("grampixel", 0.05)
    stop_at = time.monotonic() + 0.2
    d = sandboxed(redis_client, sandbox, "grampixel", stopping=lambda: time.monotonic() > stop_at)
    enqueue(d, purchases(300))
    report = d.run(flush=True)
    sent = len(sandbox.requests("grampixel"))
    counts = d.queue.counts()
    assert report.more and 0 < sent < 40  # 4 connections for 0.2 s, and those in flight
    assert counts["delivered"] == sent and counts["leased_batches"] == 0
    assert counts["pending"] + counts["in_retry"] == 300 - sent
    assert counts["retry_batches"] in (1, 2)  # each batch of the round: its unsent rest
    # Another worker claims the rest at once, on its first attempt.
    batch = d.queue.claim(lease=d.delivery.lease_seconds, size=128, flush=True, wait=0)
    assert batch is not None and batch.attempts == 0 and "stopping" in batch.last_error


def test_a_run_that_starts_once_the_worker_is_stopping_claims_nothing(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    d = sandboxed(redis_client, sandbox, "grampixel", stopping=lambda: True)
    enqueue(d, purchases(20))
    assert d.run(flush=True).more
    assert sandbox.requests("grampixel") == [] and d.queue.counts()["pending"] == 20


def test_a_stopping_batch_waits_for_its_requests_in_flight_a_grace_at_most(
    redis_client: redis.Redis, sandbox: SandboxServer
) -> None:
    """A provider slow to answer must not keep a stopping worker from settling before its
    SIGKILL: the requests still out after STOP_GRACE are given back unanswered (only they can
    be sent twice), the others are not sent at all."""
    sandbox.set_latency("grampixel", 1.5)
    conf = {**provider_settings(sandbox.url)["grampixel"], "read_timeout": 30.0}
    stop_at = time.monotonic() + 0.3
    d = build(redis_client, "grampixel", conf, {}, stopping=lambda: time.monotonic() > stop_at)
    items = [(e.to_json(), e) for e in purchases(20)]
    grace = sender.STOP_GRACE
    sender.STOP_GRACE = 0.5
    try:
        started = time.monotonic()
        sent = d.sender.send(items, keep_alive=lambda: True)
        took = time.monotonic() - started
    finally:
        sender.STOP_GRACE = grace
    assert took < 1.4  # the stop at 0.3 s, then half a second's grace, not 1.5 s of latency
    reasons = Counter(o.reason for _, o in sent.results if isinstance(o, Retry) and not o.sent)
    assert reasons == {
        "no answer before the worker stopped": 4,
        "not sent: the worker is stopping": 16,
    }
    assert sent.requests == 4  # the 4 connections' requests went out
