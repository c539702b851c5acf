"""`tracking-worker send` and `import`: events from a shell reach the providers; a file is
validated whole before anything of it is enqueued; a backfill of 100,000 lines is quick."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from tests.ops.support import ALL, cli, event, offline_env
from tests.system import System
from tracking_worker.devtools import demo_settings, write_config
from tracking_worker.keys import Keys
from tracking_worker.sandbox import SandboxServer


def test_send_enqueues_one_event_as_track_does(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    system = make_system(providers=["graspil", "vibetrace"])
    args = ["send", "purchase", "--telegram-id", "5", "--email", "ann@example.com"]
    args += ["--value", "9.99", "--currency", "usd", "--order-id", "A-1", "--event-id", "shell-1"]
    args += ["--property", "plan=pro", "--property", "seats=3"]
    sent = cli(system.env, *args)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "shell-1"
    wait_for(lambda: system.counts("vibetrace")["delivered"] == 1, 30, message=system.log())
    wait_for(lambda: system.counts("graspil")["delivered"] == 1, 30, message=system.log())
    [item] = sandbox.received("graspil")
    assert item["user_id"] == 5 and item["value"] == 9.99
    [order] = sandbox.received("vibetrace")
    assert order["user"]["email"] == "ann@example.com"
    again = cli(system.env, *args, "--json")  # the same event id within dedupe_ttl
    assert again.returncode == 0
    assert json.loads(again.stdout) == {"event_id": "shell-1"}
    assert redis_client.hget(Keys("graspil").stats, "deduplicated") == b"1"


def test_send_that_only_some_providers_took_says_so_and_its_retry_adds_only_what_is_missing(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    """`send` raises rather than spools: it must say which providers have the event (and not
    that anything was spooled), and the retry it suggests must not give them a second copy."""
    system = make_system(providers=["graspil", "vibetrace"])
    redis_client.set(Keys("vibetrace").pending, "not a list")  # WRONGTYPE for vibetrace alone
    args = ["send", "purchase", "--telegram-id", "5", "--email", "ann@example.com"]
    args += ["--value", "9.99", "--currency", "usd", "--order-id", "A-1"]
    first = cli(system.env, *args)
    assert first.returncode == 1
    event_id = first.stdout.strip()
    assert "enqueued for graspil; not for vibetrace" in first.stderr
    assert f"--event-id {event_id}" in first.stderr and "spooled" not in first.stderr
    part = cli(system.env, *args, "--event-id", event_id, "--json")
    assert part.returncode == 1
    said = json.loads(part.stdout)
    assert (said["event_id"], said["enqueued"], said["failed"]) == (
        event_id,
        ["graspil"],
        ["vibetrace"],
    )
    redis_client.delete(Keys("vibetrace").pending)
    again = cli(system.env, *args, "--event-id", event_id)
    assert again.returncode == 0, again.stderr
    wait_for(lambda: system.counts("vibetrace")["delivered"] == 1, 30, message=system.log())
    wait_for(lambda: system.counts("graspil")["delivered"] >= 1, 30, message=system.log())
    assert len(sandbox.received("graspil")) == 1  # not twice
    assert redis_client.hget(Keys("graspil").stats, "deduplicated") == b"2"  # both retries


def test_send_refuses_what_track_refuses(empty_system: System) -> None:
    invalid = cli(empty_system.env, "send", "purchase", "--telegram-id", "5", "--value", "3")
    assert invalid.returncode == 1
    assert invalid.stderr.strip() == (
        "tracking-worker: invalid event: currency: Required when value is given."
    )
    for bad in (["--telegram-id", "five"], ["--property", "plan"], ["--value", "nan"]):
        usage = cli(empty_system.env, "send", "purchase", *bad)
        assert usage.returncode == 2 and "Traceback" not in usage.stderr, bad


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_validates_every_line_before_enqueuing(
    empty_system: System, redis_client: redis.Redis, tmp_path: Path
) -> None:
    good = [json.dumps(event(n)) for n in (1, 2, 3)]
    lines = [
        good[0],
        good[1],
        json.dumps({**event(4), "currency": None}),
        "{not json",
        "",
        "[1, 2]",
        good[2],
        json.dumps({"name": "purchase", "telegram_id": "x"}),
    ]
    path = write_lines(tmp_path / "events.jsonl", lines)
    refused = cli(empty_system.env, "import", str(path))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "tracking-worker: line 3: currency: Required when value is given.",
        "tracking-worker: line 4: line: Not JSON: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1).",
        "tracking-worker: line 6: event: Must be an object (a mapping of fields).",
        "tracking-worker: line 8: telegram_id: Not a valid integer.",
        f"tracking-worker: 4 invalid line(s) in {path}; nothing enqueued "
        "(fix them, or --skip-invalid imports the rest)",
    ]
    assert all(redis_client.llen(Keys(p).pending) == 0 for p in ALL)

    skipped = cli(empty_system.env, "import", str(path), "--skip-invalid")
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.startswith(
        "3 event(s) enqueued, 0 already present, 4 invalid line(s) skipped, from"
    )
    wait_for(
        lambda: all(empty_system.counts(p)["delivered"] == 3 for p in ALL),
        30,
        message=empty_system.log(),
    )


def test_import_keeps_to_its_rate(empty_system: System, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "events.jsonl", [json.dumps(event(n)) for n in range(1, 31)])
    started = time.monotonic()
    done = cli(empty_system.env, "import", str(path), "--rate", "20")
    assert done.returncode == 0 and done.stdout.startswith("30 event(s) enqueued")
    assert time.monotonic() - started >= 1.0  # 30 events at 20/s: the last ten after 1 s
    assert cli(empty_system.env, "import", str(path), "--rate", "0").returncode == 2


def test_import_refuses_when_redis_is_down(tmp_path: Path) -> None:
    config = tmp_path / "tracking.toml"
    data = demo_settings("redis://127.0.0.1:9/0", "http://127.0.0.1:9")
    data["producer"] = {"spool_dir": str(tmp_path / "spool")}
    write_config(config, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
    env["TRACKING_CONFIG"] = str(config)
    path = write_lines(tmp_path / "events.jsonl", [json.dumps(event(n)) for n in range(1, 4)])
    done = cli(env, "import", str(path))
    assert done.returncode == 1
    assert "0 event(s) enqueued (0 already present), stopped before line 1" in done.stderr
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").iterdir())


@pytest.mark.slow
def test_import_of_100000_lines_takes_under_14_seconds(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Every line carries every identity, so each event goes to all five providers."""
    env = offline_env(redis_url, tmp_path)
    path = write_lines(
        tmp_path / "backfill.jsonl",
        [json.dumps({**event(n), "properties": {"plan": "pro"}}) for n in range(1, 100_001)],
    )
    started = time.monotonic()
    done = cli(env, "import", str(path), timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    print(f"\n{done.stdout.strip()} (wall {elapsed:.1f}s, load {os.getloadavg()[0]:.1f})")
    assert all(redis_client.llen(Keys(p).pending) == 100_000 for p in ALL)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Under `pytest -n 2` another worker shares the two cores: the figure is printed, and
        # held to 10 s when this test runs alone (`pytest tests/ops -k 100000`).
        assert elapsed < 45.0
    else:
        # 14 s, was 10: each line's id is the caller's (the file's hash and the line, so a
        # second run enqueues only what is missing), which enqueue.lua keeps in its dedupe
        # window: 1,000 events to five providers take 88 ms of Redis instead of 35 (10.9 s
        # here where the random ids of before took 7.4, load 1.7).
        assert elapsed < 14.0
