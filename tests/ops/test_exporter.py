"""`tracking-worker metrics`: what a scrape reads from Redis, over HTTP as Prometheus reads it,
and what a scrape costs with a large backlog (one round trip)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.support import ALL, KINDS, cli, record_requests
from tests.system import System
from tracking_worker.devtools import demo_providers, free_port, write_config
from tracking_worker.keys import Keys
from tracking_worker.ops.exporter import registry
from tracking_worker.settings import Settings, build_settings
from tracking_worker.store.metrics import status_class
from tracking_worker.store.runs import mark_tick

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
    with serving(dead_system.env) as url:
        yield url


@pytest.fixture
def config_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a command on every provider, over the test's Redis (no worker)."""
    config = tmp_path / "tracking.toml"
    providers = demo_providers("http://127.0.0.1:9")
    write_config(config, {"redis": {"url": redis_url}, "providers": providers})
    env = {**os.environ, "TRACKING_CONFIG": str(config)}
    env.pop("TRACKING_REDIS_URL", None)
    return env


@contextlib.contextmanager
def serving(env: Mapping[str, str]) -> Iterator[str]:
    """`tracking-worker metrics --port 0` on ``env``; yields its URL, ends it with SIGTERM."""
    metrics = subprocess.Popen(
        [sys.executable, "-m", "tracking_worker.cli", "metrics", "--port", "0"],
        env=dict(env),
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
        not_yet = int(KINDS[provider] == "not_yet")  # giosg's and VibeTrace's
        assert value(got, events, provider=provider, outcome="rejected") == 1 - not_yet
        assert value(got, events, provider=provider, outcome="not_yet") == not_yet
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


def hostile(client: redis.Redis) -> int:
    """Values no script writes, set by hand in graspil's keys (and the tick, which is no
    provider's: left out, not counted); returns how many of graspil's."""
    keys = Keys("graspil")
    client.hset(
        keys.latency,
        mapping={
            "le:0.005": "abc",
            "count": "1.5",
            "sum_us": "9" * 30,  # beyond 64 bits
            "status:2xx": "",
            "le:0.01": 3,
        },
    )
    client.hset(keys.stats, mapping={"delivered": "lots", "dead": "1e3", "enqueued": 5})
    client.zadd(keys.leases, {"b1": 1e12})
    client.hset(keys.batch("b1"), "count", "many")
    client.rpush(keys.pending, '{"event_id":"e1"}')
    client.set(keys.since, "nan")
    client.hset(keys.circuit, mapping={"state": "open", "open_until": "inf"})
    client.set("tw:tick", "soon")
    return 4 + 2 + 1 + 1 + 1


def test_values_that_are_no_numbers_are_left_out_and_counted_never_an_error(
    config_env: dict[str, str], redis_client: redis.Redis
) -> None:
    bad = hostile(redis_client)
    with serving(config_env) as url:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200
                got = parse(answer.read().decode())
        except urllib.error.HTTPError as exc:
            pytest.fail(f"the scrape answered {exc.code}")
    assert value(got, "tracking_worker_up") == 1
    assert value(got, "tracking_worker_unreadable_values", provider="graspil") == bad
    assert value(got, "tracking_worker_unreadable_values", provider="giosg") == 0
    bucket = "tracking_worker_request_duration_seconds_bucket"
    assert value(got, bucket, provider="graspil", le="0.01") == 3
    assert value(got, "tracking_worker_request_duration_seconds_count", provider="graspil") == 3
    assert value(got, "tracking_worker_enqueued_events_total", provider="graspil") == 5
    assert value(got, "tracking_worker_pending_events", provider="graspil") == 1
    assert value(got, "tracking_worker_circuit_state", provider="graspil") == 1  # half open

    table = cli(config_env, "status")
    assert table.returncode == 0 and not table.stderr, table.stderr
    assert f"{bad} value(s) in Redis are not numbers: left out" in table.stdout
    as_json = cli(config_env, "status", "--json")
    assert as_json.returncode == 0 and not as_json.stderr, as_json.stderr
    assert json.loads(as_json.stdout)["graspil"]["unreadable"] == bad


def test_twenty_concurrent_scrapes_are_answered_without_a_connection_retry(
    config_env: dict[str, str], redis_client: redis.Redis
) -> None:
    """A listen backlog of 5 made the sixth simultaneous connection wait for its SYN's
    retry (1 s); each scrape here takes milliseconds."""
    scrapers = 20
    start = threading.Barrier(scrapers)
    took: list[float] = []
    failed: list[BaseException] = []

    def scrape_once(url: str) -> None:
        start.wait(10)
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200 and b"tracking_worker_up 1.0" in answer.read()
        except (OSError, AssertionError) as exc:  # reported below, from the test's thread
            failed.append(exc)
        took.append(time.perf_counter() - began)

    with serving(config_env) as url:
        threads = [threading.Thread(target=scrape_once, args=(url,)) for _ in range(scrapers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not failed, failed
    assert len(took) == scrapers
    print(f"\n{scrapers} concurrent scrapes: worst {max(took) * 1000:.0f} ms")
    assert max(took) < 0.9
