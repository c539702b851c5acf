"""`make run`'s path: `tracking-worker dev --demo` runs everything and stops cleanly.

`dev` starts each child (sandbox, Celery worker and beat, redis-server) in a session of its own,
so killing `dev`'s process group does not reach them: killed alone, `dev` would leave a Celery
worker consuming from the session's Redis and taking later tests' deliveries. Every process a
test starts here therefore carries a tag in its environment, which its children and theirs
inherit; teardown finds them by it (orphans too) and stops them all, whatever the test did.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis

from tests.helpers import wait_for

#: Environment variable holding a test's tag; every descendant of `dev` inherits it.
TAG = "TW_TEST_TAG"
#: After SIGTERM, how long teardown lets the tagged processes stop before SIGKILL.
GRACE = 5.0


def tagged(tag: str) -> list[int]:
    """Live processes whose environment holds ``TAG=tag`` (a zombie shows no environment)."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:  # exited meanwhile, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def describe(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = "(exited)"
        lines.append(f"{pid}: {cmdline.strip()}")
    return "\n".join(lines)


def wait_gone(tag: str, timeout: float) -> list[int]:
    """Until no process carries ``tag``, within ``timeout``; returns those still running."""
    try:
        wait_for(lambda: not tagged(tag), timeout, message=f"processes tagged {tag} exit")
    except AssertionError:
        return tagged(tag)
    return []


def signal_groups(pids: list[int], sig: signal.Signals) -> None:
    """``sig`` to each process and its whole group (a Celery worker's pool is in its group);
    never to this test process's own group."""
    own = os.getpgrp()
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own:
                os.killpg(group, sig)
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


def stop_all(tag: str) -> list[int]:
    """SIGTERM every process tagged ``tag`` (each group), SIGKILL what is left after
    ``GRACE``; returns any that survive even that."""
    signal_groups(tagged(tag), signal.SIGTERM)
    left = wait_gone(tag, GRACE)
    if left:
        signal_groups(left, signal.SIGKILL)
        left = wait_gone(tag, 10.0)
    return left


class Dev:
    """One `tracking-worker dev` run: its own process group (a terminal's Ctrl-C reaches it
    alone), output to a file, every descendant tagged."""

    def __init__(self, args: list[str], env: dict[str, str], out: Path, tag: str) -> None:
        self.out = out
        self.tag = tag
        self._sink: IO[str] = out.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracking_worker.cli", "dev", *args],
            env={**env, TAG: tag},
            stdin=subprocess.DEVNULL,
            stdout=self._sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def interrupt(self) -> None:
        """What a terminal's Ctrl-C does: SIGINT to the foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        """The exit code; fails the test if `dev` is still running after ``timeout``."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"tracking-worker dev still running after {timeout:g}s:\n{self.output()}"
            ) from None

    def assert_no_child_left(self, grace: float = 3.0) -> None:
        """Nothing `dev` started still runs once it has exited (``grace``: a stray its group's
        SIGKILL has just reached takes a moment to die)."""
        left = wait_gone(self.tag, grace)
        assert not left, f"children left running:\n{describe(left)}"

    def close(self) -> None:
        """Stop whatever is still running (`dev`, its children, orphans), reap `dev`."""
        left = stop_all(self.tag)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._sink.close()
        assert not left, f"could not kill:\n{describe(left)}"


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Callable[..., Dev]]:
    """Starts `tracking-worker dev` with the given arguments and environment; at teardown
    (however the test ended: failure, timeout) stops everything it started. Ask for it after
    ``redis_url``: teardown runs in reverse, so no worker is left on the Redis being flushed."""
    runs: list[Dev] = []

    def start(*args: str, env: dict[str, str]) -> Dev:
        dev = Dev(list(args), env, tmp_path / f"dev{len(runs)}.log", uuid.uuid4().hex)
        runs.append(dev)
        return dev

    yield start
    for dev in runs:
        dev.close()


@pytest.mark.slow  # make install-check runs the same demo from the built wheel in make test
def test_dev_demo_delivers_to_every_provider_and_exits_zero(
    tmp_path: Path, start_dev: Callable[..., Dev]
) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TRACKING_REDIS_URL", "TRACKING_CONFIG")
    }
    home = tmp_path / "home"
    dev = start_dev("--demo", "--duration", "15", "--home", str(home), env=env)
    code = dev.wait(90)
    output = dev.output()
    assert code == 0, output
    dev.assert_no_child_left()
    total = re.search(r"stopped; (\d+) event\(s\) delivered", output)
    assert total and int(total.group(1)) > 0, output
    last_table = output.rsplit("provider", 1)[1]
    for provider in ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace"):
        row = re.search(rf"^{provider}\s+\d+\s+\d+\s+\d+\s+(\d+)", last_table, re.M)
        assert row and int(row.group(1)) > 0, f"{provider} delivered nothing:\n{output}"
    assert (home / "redis" / "appendonly.aof").exists()


def test_ctrl_c_stops_every_child_cleanly_on_a_given_redis(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, start_dev: Callable[..., Dev]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRACKING_CONFIG"}
    env["TRACKING_REDIS_URL"] = redis_url  # used instead of a private redis-server
    home = tmp_path / "home"
    dev = start_dev("--demo", "--home", str(home), env=env)
    wait_for(lambda: "-- 5s" in dev.output(), 60, message="the first table")
    dev.interrupt()
    code = dev.wait(60)
    output = dev.output()
    assert code == 0, output
    dev.assert_no_child_left()
    total = re.search(r"stopped; (\d+) event\(s\) delivered", output)
    assert total and int(total.group(1)) > 0, output
    assert "-- final" in output  # the workers were let finish before stopping
    assert int(redis_client.hget("tw:{graspil}:stats", "delivered") or 0) > 0
    assert not (home / "redis").exists()
