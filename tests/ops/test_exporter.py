"""`tracking-worker metrics`: what a scrape reads from Redis, over HTTP as Prometheus reads it,
and what a scrape costs with a large backlog (one round trip)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.support import ALL, cli, record_requests
from tests.system import System
from tracking_worker.devtools import demo_providers, free_port
from tracking_worker.keys import Keys
from tracking_worker.ops.exporter import registry
from tracking_worker.settings import Settings, build_settings
from tracking_worker.store.metrics import mark_tick, status_class

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def settings_on(url: str) -> Settings:
    return build_settings(
        {"redis": {"url": url}, "providers": demo_providers("http://127.0.0.1:9")}
    )


def scrape(settings: Settings, client: redis.Redis) -> Samples:
    return parse(generate_latest(registry(settings, client)).decode())


@pytest.fixture
def served(dead_system: System) -> Iterator[str]:
    """`tracking-worker metrics --port 0` on the system with dead letters; yields its URL."""
    metrics = subprocess.Popen(
        [sys.executable, "-m", "tracking_worker.cli", "metrics", "--port", "0"],
        env=dead_system.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert metrics.stdout is not None
        line = metrics.stdout.readline()
        assert line.startswith("serving metrics on http://127.0.0.1:"), line
        yield line.split()[-1]
        os.killpg(metrics.pid, signal.SIGTERM)
        assert metrics.wait(10) == 0
    finally:
        if metrics.poll() is None:
            os.killpg(metrics.pid, signal.SIGKILL)


def test_an_empty_system_scrapes_as_zeros(redis_url: str, redis_client: redis.Redis) -> None:
    got = scrape(settings_on(redis_url), redis_client)
    assert value(got, "tracking_worker_up") == 1
    for provider in ALL:
        for gauge in ("pending_events", "in_flight_events", "dead_events", "circuit_state"):
            assert value(got, f"tracking_worker_{gauge}", provider=provider) == 0
        for outcome in ("delivered", "rejected", "expired", "lost"):
            total = value(got, "tracking_worker_events_total", provider=provider, outcome=outcome)
            assert total == 0
        assert value(got, "tracking_worker_request_duration_seconds_count", provider=provider) == 0
    assert value(got, "tracking_worker_flush_interval_seconds") == 2.0
    assert not any(name == "tracking_worker_last_tick_timestamp_seconds" for name, _ in got)


def test_the_metrics_command_serves_dead_letters_of_every_provider(
    served: str, dead_system: System
) -> None:
    with urllib.request.urlopen(served, timeout=10) as answer:
        assert answer.status == 200
        got = parse(answer.read().decode())
    assert value(got, "tracking_worker_up") == 1
    for provider in ALL:
        assert value(got, "tracking_worker_dead_events", provider=provider) == 1
        events = "tracking_worker_events_total"
        assert value(got, events, provider=provider, outcome="delivered") == 9
        assert value(got, events, provider=provider, outcome="rejected") == 1
        assert value(got, "tracking_worker_enqueued_events_total", provider=provider) == 10
        assert value(got, "tracking_worker_pending_events", provider=provider) == 0
        assert value(got, "tracking_worker_circuit_state", provider=provider) == 0
    # A replay lowers the gauge at the next scrape: nothing is cached in the exporter.
    cli(dead_system.env, "dlq", "purge", "--provider", "giosg", "--yes")
    with urllib.request.urlopen(served, timeout=10) as answer:
        again = parse(answer.read().decode())
    assert value(again, "tracking_worker_dead_events", provider="giosg") == 0


def test_a_metric_that_cannot_be_written_never_fails_the_delivery(
    redis_client: redis.Redis,
) -> None:
    keys = Keys("graspil")
    redis_client.set(keys.latency, "not a hash")
    queue = record_requests(redis_client, "graspil", [("2xx", 0.01), ("5xx", 0.2)])
    assert queue.counts()["delivered"] == 1
    assert redis_client.get(keys.latency) == b"not a hash"
    redis_client.delete(keys.latency)
    record_requests(redis_client, "graspil", [("2xx", 0.01), ("5xx", 0.2)])
    assert redis_client.hget(keys.latency, "count") == b"2"
    assert queue.counts()["delivered"] == 2


def test_latency_histogram_requests_and_tick_come_from_redis(
    redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_on(redis_url)
    samples = ((0.004, 200), (0.04, 200), (0.3, 503), (45.0, None), (0.2, 400))
    record_requests(redis_client, "graspil", [(status_class(s), t) for t, s in samples[:2]])
    record_requests(redis_client, "graspil", [(status_class(s), t) for t, s in samples[2:]])
    assert mark_tick(redis_client)
    got = scrape(settings, redis_client)
    bucket = "tracking_worker_request_duration_seconds_bucket"
    assert value(got, bucket, provider="graspil", le="0.005") == 1
    assert value(got, bucket, provider="graspil", le="0.05") == 2
    assert value(got, bucket, provider="graspil", le="0.25") == 3
    assert value(got, bucket, provider="graspil", le="0.5") == 4
    assert value(got, bucket, provider="graspil", le="30.0") == 4
    assert value(got, bucket, provider="graspil", le="+Inf") == 5
    assert value(got, "tracking_worker_request_duration_seconds_count", provider="graspil") == 5
    total = value(got, "tracking_worker_request_duration_seconds_sum", provider="graspil")
    assert total == pytest.approx(45.544)
    requests = "tracking_worker_requests_total"
    assert value(got, requests, provider="graspil", status_class="2xx") == 2
    assert value(got, requests, provider="graspil", status_class="5xx") == 1
    assert value(got, requests, provider="graspil", status_class="4xx") == 1
    assert value(got, requests, provider="graspil", status_class="error") == 1
    seconds, micros = redis_client.time()
    tick = value(got, "tracking_worker_last_tick_timestamp_seconds")
    assert 0 <= seconds + micros / 1e6 - tick < 5


def test_redis_down_scrapes_as_up_zero() -> None:
    settings = settings_on(f"redis://127.0.0.1:{free_port()}/0")
    client = redis.Redis.from_url(settings.redis.url, socket_connect_timeout=1)
    got = scrape(settings, client)
    assert value(got, "tracking_worker_up") == 0
    assert not any(name == "tracking_worker_pending_events" for name, _ in got)


def test_a_scrape_is_one_round_trip_whatever_the_backlog(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_on(redis_url)
    for provider in ALL:
        pipe = redis_client.pipeline(transaction=False)
        for start in range(0, 100_000, 5_000):
            pipe.rpush(
                Keys(provider).pending, *(f'{{"n":{n}}}' for n in range(start, start + 5_000))
            )
        pipe.set(Keys(provider).since, time.time() - 30)
        pipe.execute()
    client = redis.Redis.from_url(redis_url)
    collector = registry(settings, client)
    generate_latest(collector)  # connects (HELLO, SETINFO...), then only scrapes count
    sent: list[int] = []
    original = redis.connection.Connection.send_packed_command

    def counting(self: redis.connection.Connection, *args: object, **kwargs: object) -> None:
        sent.append(1)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    got = parse(generate_latest(collector).decode())
    assert len(sent) == 1
    assert value(got, "tracking_worker_pending_events", provider="giosg") == 100_000
    assert value(got, "tracking_worker_oldest_pending_seconds", provider="giosg") >= 29
    monkeypatch.undo()
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        generate_latest(collector)
    per_scrape_ms = (time.perf_counter() - started) / rounds * 1000
    print(f"\nscrape with 5 x 100,000 pending: {per_scrape_ms:.2f} ms")
    assert per_scrape_ms < 100
