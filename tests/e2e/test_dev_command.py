"""`make run`'s path: `tracking-worker dev --demo` runs everything and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import redis

from tests.helpers import wait_for


def test_dev_demo_delivers_to_every_provider_and_exits_zero(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TRACKING_REDIS_URL", "TRACKING_CONFIG")
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracking_worker.cli",
            "dev",
            "--demo",
            "--duration",
            "15",
            "--home",
            str(tmp_path / "home"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    total = re.search(r"stopped; (\d+) event\(s\) delivered", output)
    assert total and int(total.group(1)) > 0, output
    last_table = output.rsplit("provider", 1)[1]
    for provider in ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace"):
        row = re.search(rf"^{provider}\s+\d+\s+\d+\s+\d+\s+(\d+)", last_table, re.M)
        assert row and int(row.group(1)) > 0, f"{provider} delivered nothing:\n{output}"
    assert (tmp_path / "home" / "redis" / "appendonly.aof").exists()
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "home")], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "children left running"


def test_ctrl_c_stops_every_child_cleanly_on_a_given_redis(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRACKING_CONFIG"}
    env["TRACKING_REDIS_URL"] = redis_url  # used instead of a private redis-server
    home = tmp_path / "home"
    out = tmp_path / "out.log"
    with out.open("w") as sink:
        dev = subprocess.Popen(
            [sys.executable, "-m", "tracking_worker.cli", "dev", "--demo", "--home", str(home)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(lambda: "-- 5s" in out.read_text(), 60, message="the first table")
            os.killpg(dev.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            assert dev.wait(60) == 0
        finally:
            if dev.poll() is None:
                os.killpg(dev.pid, signal.SIGKILL)
    output = out.read_text()
    total = re.search(r"stopped; (\d+) event\(s\) delivered", output)
    assert total and int(total.group(1)) > 0, output
    assert "-- final" in output  # the workers were let finish before stopping
    assert int(redis_client.hget("tw:{graspil}:stats", "delivered") or 0) > 0
    assert not (home / "redis").exists()
    leftovers = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "children left running"
