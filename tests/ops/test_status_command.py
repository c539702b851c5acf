"""`tracking-worker status` on real systems: empty, with dead letters from every provider, with
a backlog waiting, and with a provider paused; once, as JSON, and refreshed with --watch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import redis

from tests.helpers import wait_for
from tests.ops.support import ALL, KINDS, cli, offline_env
from tests.system import System
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.keys import Keys
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.status import GAUGES, OUTCOMES

HEADER = ["provider", "pending", "in_flight", "retry", "delivered", "dead", "oldest"]


def rows(stdout: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}


def test_an_empty_system_shows_every_provider_at_zero(empty_system: System) -> None:
    done = cli(empty_system.env, "status")
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert done.stdout.split()[: len(HEADER)] == HEADER
    for provider in ALL:
        assert table[provider][1:6] == ["0"] * 5, table[provider]
        assert table[provider][6] == "-"  # nothing pending: no age
        assert table[provider][-2:] == ["closed", "-"]
        assert len(table[provider]) == len(done.stdout.split("\n", 1)[0].split())
    as_json = json.loads(cli(empty_system.env, "status", "--json").stdout)
    assert list(as_json) == list(ALL)
    for provider in ALL:
        for name in (*GAUGES, *OUTCOMES):
            assert as_json[provider][name] == 0, (provider, name)
        assert as_json[provider]["circuit"] == "closed"
        assert as_json[provider]["circuit_until"] is None


def test_dead_letters_of_every_provider_are_counted(dead_system: System) -> None:
    table = rows(cli(dead_system.env, "status").stdout)
    as_json = json.loads(cli(dead_system.env, "status", "--json").stdout)
    for provider in ALL:
        assert table[provider][4:6] == ["9", "1"], table[provider]  # delivered, dead
        got = as_json[provider]
        # giosg's and VibeTrace's dead letter is a not-yet answer (support.KINDS), counted apart
        not_yet = int(KINDS[provider] == "not_yet")
        assert (got["delivered"], got["dead"], got["expired"]) == (9, 1, 0)
        assert (got["rejected"], got["not_yet"]) == (1 - not_yet, not_yet)
        assert (got["pending"], got["in_flight"], got["retry_scheduled"]) == (0, 0, 0)
        assert got["enqueued"] == 10
    assert table["total"][4:6] == ["45", "5"]


def test_oldest_pending_age_is_measured_on_redis_time(
    make_system: Callable[..., System], redis_client: redis.Redis
) -> None:
    system = make_system(providers=["graspil", "grampixel"], beat=False)
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 4)])
    # As if the oldest event had waited 90 s (a partial batch: without beat nothing sends it).
    since = float(redis_client.get(Keys("graspil").since) or 0) - 90
    redis_client.set(Keys("graspil").since, since)
    got = json.loads(cli(system.env, "status", "--json").stdout)["graspil"]
    seconds, micros = redis_client.time()
    assert got["pending"] == 3
    assert 90 <= got["oldest_pending_seconds"] <= seconds + micros / 1e6 - since
    assert rows(cli(system.env, "status").stdout)["graspil"][6].endswith("s")


def test_a_paused_provider_shows_until_when(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.set_credentials("graspil", api_key="rotated-key")
    system = make_system(providers=["graspil"])
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 4)])
    wait_for(lambda: system.counts("graspil")["in_retry"] == 3, 30, message=system.log())
    got = json.loads(cli(system.env, "status", "--json").stdout)["graspil"]
    assert got["circuit"] == "open" and got["retry_scheduled"] == 3
    assert got["circuit_until"] > time.time() + 500  # credentials_cooldown
    assert "401" in got["circuit_reason"] or "key" in got["circuit_reason"].lower()
    row = rows(cli(system.env, "status").stdout)["graspil"]
    until = datetime.fromtimestamp(got["circuit_until"]).strftime("%H:%M:%S")
    assert row[-2:] == ["open", until]


def test_watch_refreshes_until_interrupted(empty_system: System, tmp_path: Path) -> None:
    """Into a file (no terminal) each refresh is a plain table; Ctrl-C ends it with exit 0."""
    for extra, marker in (([], "tracking-worker status"), (["--json"], '"graspil"')):
        out = tmp_path / f"watch{len(extra)}.log"
        with out.open("w") as sink:
            command = ["status", "--watch", "--interval", "0.2", *extra]
            watch = subprocess.Popen(
                [sys.executable, "-m", "tracking_worker.cli", *command],
                env=empty_system.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for(lambda: out.read_text().count(marker) >= 3, 20, message=str(out))  # noqa: B023
                os.killpg(watch.pid, signal.SIGINT)
                assert watch.wait(10) == 0
            finally:
                if watch.poll() is None:
                    os.killpg(watch.pid, signal.SIGKILL)
        text = out.read_text()
        assert "Traceback" not in text
        if extra:
            assert all(json.loads(line)["graspil"]["pending"] == 0 for line in text.splitlines())
        else:
            assert text.count("graspil") >= 3


def test_watch_shows_a_redis_error_and_goes_on_when_redis_is_back(tmp_path: Path) -> None:
    """Redis down at first: each refresh says so (no exit); once a redis-server listens on
    that port, the next refreshes are tables again."""
    server = EmbeddedRedis(tmp_path / "redis")
    out = tmp_path / "watch.log"
    env = offline_env(server.url, tmp_path)
    for extra, marker in (([], "graspil"), (["--json"], '"graspil"')):
        with out.open("w") as sink:
            watch = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tracking_worker.cli",
                    "status",
                    "--watch",
                    "--interval",
                    "0.2",
                    "--timeout",
                    "1",
                    *extra,
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for(
                    lambda: out.read_text().count("Redis unavailable") >= 3, 20, message=str(out)
                )
                assert watch.poll() is None  # still watching
                server.start()
                wait_for(lambda: marker in out.read_text(), 20, message=str(out))  # noqa: B023
                os.killpg(watch.pid, signal.SIGINT)
                assert watch.wait(10) == 0
            finally:
                if watch.poll() is None:
                    os.killpg(watch.pid, signal.SIGKILL)
                server.stop()
        text = out.read_text()
        assert "Traceback" not in text
        if extra:
            lines = [json.loads(line) for line in text.splitlines()]
            assert "Redis unavailable" in lines[0]["error"]
            assert lines[-1]["graspil"]["pending"] == 0
