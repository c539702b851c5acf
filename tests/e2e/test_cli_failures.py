"""Every tracking-worker command, with Redis down, behind a wrong password, or holding a key of
the wrong type: one line on stderr, exit 1, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.ops.support import offline_env
from tracking_worker.devtools import EmbeddedRedis, free_port
from tracking_worker.keys import RECEIPT_BUCKET_SECONDS, Keys

COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["check"],
    ["dead", "list", "graspil"],
    ["dead", "replay", "graspil"],
    ["dlq", "list"],
    ["dlq", "list", "--provider", "graspil", "--since", "1h", "--reason", "x"],
    ["dlq", "show", "1-0"],
    ["dlq", "replay", "--dry-run"],
    ["dlq", "purge", "--yes"],
    ["send", "purchase", "--telegram-id", "5"],
    ["import", "{home}/events.jsonl"],
    ["circuit", "show", "graspil"],
    ["circuit", "reset", "graspil"],
    ["spool", "drain"],
    ["tick"],
    ["trace", "some-event-id"],
    ["forget", "--telegram-id", "5"],
]


def run(home: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = offline_env(redis_url, home)
    return subprocess.run(
        [sys.executable, "-m", "tracking_worker.cli", *(a.format(home=home) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_clean_line(done: subprocess.CompletedProcess[str]) -> None:
    """Exit 1; stderr is the command's own lines (the error, and for a drain what it logged),
    never a traceback."""
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith("tracking-worker: ") for line in lines), done.stderr
    assert len(lines) <= 3


@pytest.fixture
def spooled(tmp_path: Path) -> Path:
    """A spool with one event, so `spool drain` has something to fail on."""
    (tmp_path / "spool").mkdir()
    line = (
        '{"event":{"event_id":"e1","name":"purchase","occurred_at":"2024-01-01T00:00:00.000+00:00",'
        '"telegram_id":5},"providers":[],"caller_id":false}\n'
    )
    (tmp_path / "spool" / "spool-1-1.jsonl").write_text(line)
    (tmp_path / "events.jsonl").write_text('{"name": "purchase", "telegram_id": 5}\n')
    return tmp_path


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_redis_down(spooled: Path, args: list[str]) -> None:
    assert_one_clean_line(run(spooled, f"redis://127.0.0.1:{free_port()}/0", *args))


@pytest.fixture(scope="module")
def hung_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A redis-server held with SIGSTOP, as a hung host is: it accepts connections (the
    kernel does) and never answers."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("hung")).start()
    assert server.child is not None
    os.kill(server.child.pid, signal.SIGSTOP)
    yield server
    os.kill(server.child.pid, signal.SIGCONT)
    server.stop()


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_redis_hung(spooled: Path, hung_redis: EmbeddedRedis, args: list[str]) -> None:
    """With --timeout 1 each command gives up within seconds (the worker client's wait is
    30 s a reply), with one line naming Redis."""
    started = time.monotonic()
    done = run(spooled, hung_redis.url, *args, "--timeout", "1")
    assert_one_clean_line(done)
    assert "Redis" in done.stderr or "redis" in done.stderr
    assert time.monotonic() - started < 15, done.stderr


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedRedis:
    server = EmbeddedRedis(tmp_path_factory.mktemp("locked")).start()
    redis.Redis(port=server.port).config_set("requirepass", "right-password")
    yield server
    server.stop()


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_wrong_password(spooled: Path, locked_redis: EmbeddedRedis, args: list[str]) -> None:
    url = f"redis://:wrong-password@127.0.0.1:{locked_redis.port}/0"
    done = run(spooled, url, *args)
    assert_one_clean_line(done)
    assert "wrong-password" not in done.stderr  # the URL's password is never printed


# `check` only reaches Redis; the others read or change a provider's keys.
@pytest.mark.parametrize("args", [c for c in COMMANDS if c != ["check"]], ids=" ".join)
def test_keys_of_the_wrong_type(
    spooled: Path, redis_url: str, redis_client: redis.Redis, args: list[str]
) -> None:
    k = Keys("graspil")
    seconds, _ = redis_client.time()
    bucket = seconds // RECEIPT_BUCKET_SECONDS  # and the next: the command may start after it
    receipts = (k.receipts(bucket), k.receipts(bucket + 1))
    for key in (k.stats, k.dead, k.circuit, k.leases, k.retry, k.pending, *receipts):
        redis_client.set(key, "not what you think")
    assert_one_clean_line(run(spooled, redis_url, *args))


def test_trace_with_only_the_pending_list_of_the_wrong_type(
    spooled: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """No receipt anywhere, so trace reads the pending lists: the wrong type is caught there."""
    redis_client.set(Keys("graspil").pending, "not what you think")
    done = run(spooled, redis_url, "trace", "some-event-id")
    assert_one_clean_line(done)
    assert "pending list" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["dead", "list", "graspil", "--limit", "-1"],
        ["dead", "list", "graspil", "--limit", "x"],
        ["dlq", "list", "--limit", "1.5"],
        ["dlq", "list", "--since", "yesterday"],
        ["dlq", "replay", "--rate", "0"],
        ["status", "--watch", "--interval", "nan"],
        ["send", "purchase", "--value", "inf", "--currency", "USD"],
        ["send", "purchase", "--telegram-id", "1e3"],
        ["import", "missing.jsonl"],
        ["import", "{home}/events.jsonl", "--rate", "-5"],
        ["metrics", "--port", "99999"],
        ["sandbox", "--port", "70000"],
        ["dev", "--duration", "0"],
    ],
    ids=" ".join,
)
def test_bad_numbers_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "events.jsonl").write_text('{"name": "purchase"}\n')
    done = run(tmp_path, "redis://127.0.0.1:9/0", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Usage: tracking-worker" in done.stderr


def test_spool_drain_reports_what_it_quarantined(
    spooled: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    with (spooled / "spool" / "spool-1-1.jsonl").open("a") as spool:
        spool.write("[" * 100_000 + "\n")
    done = run(spooled, redis_url, "spool", "drain")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "1 spooled event(s) enqueued; 0 left" in done.stdout
    assert "1 unreadable line(s) quarantined" in done.stderr
    assert redis_client.llen(Keys("graspil").pending) == 1
    counted = run(spooled, redis_url, "spool", "count")
    assert counted.stdout.strip() == "0 spooled; 1 line(s) in quarantine"


def test_check_json_answers_in_json_when_redis_is_down(spooled: Path) -> None:
    """A deploy script reads one object either way; the exit code says which."""
    done = run(spooled, f"redis://127.0.0.1:{free_port()}/0", "check", "--json")
    assert done.returncode == 1
    answer = json.loads(done.stdout)
    assert answer["ok"] is False and "Redis unavailable" in answer["error"]
