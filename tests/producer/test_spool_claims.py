"""A claimed spool file is stale when its drainer's flock is free, whatever pid its name shows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.producer.test_spool import items
from tracking_worker.events import Normalized
from tracking_worker.producer.spool import Spool

#: Locks the file named by argv[1] as a drainer does, says so, and holds it until stdin closes.
HOLD_LOCK = """
import fcntl, sys
with open(sys.argv[1], "rb") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()
"""
WAIT = "import sys; sys.stdin.read()"
DEAD_PID = 2**22 + 12345  # above pid_max defaults: no such process


@contextlib.contextmanager
def python(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child that runs until its stdin is closed (or the test ends)."""
    command = [sys.executable, "-c", code, *args]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with child:  # closes the pipes and waits for it at the end
        try:
            yield child
        finally:
            child.kill()  # a no-op once it has exited


def claimed(directory: Path, pid: int) -> Path:
    """The one spool file, renamed as a drainer with ``pid`` claims it."""
    [path] = list(directory.iterdir())
    return path.rename(directory / f"{path.stem}.abcd1234-{pid}.draining")


@pytest.mark.parametrize("owner", ["this process", "another live process"])
def test_an_unlocked_claim_named_after_a_live_process_is_taken_over(
    tmp_path: Path, owner: str
) -> None:
    spool = Spool(tmp_path)
    spool.append(items(3))
    with python(WAIT) as live:
        claimed(tmp_path, os.getpid() if owner == "this process" else live.pid)
        got: list[Normalized] = []
        assert spool.drain(got.extend) == 3
        assert live.poll() is None  # its pid is still in use: it did not matter
    assert got == items(3) and list(tmp_path.iterdir()) == []


def test_a_claim_locked_by_another_process_is_left_alone_until_that_process_exits(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    spool.append(items(3))
    path = claimed(tmp_path, DEAD_PID)  # the name says its drainer is gone; its lock says not
    got: list[Normalized] = []
    with python(HOLD_LOCK, str(path)) as drainer:
        assert drainer.stdout is not None and drainer.stdout.readline() == "locked\n"
        assert spool.drain(got.extend) == 0
        assert path.exists() and spool.count() == 3 and spool.has_events()
        assert drainer.stdin is not None
        drainer.stdin.close()
        assert drainer.wait(timeout=30) == 0
    assert spool.drain(got.extend) == 3
    assert got == items(3) and list(tmp_path.iterdir()) == []


@pytest.mark.timeout(30)
def test_a_drain_step_skips_a_file_being_written_instead_of_waiting(tmp_path: Path) -> None:
    """A web request's drain step never blocks: a spool file whose writer holds its lock (a
    write under way) waits for a later step."""
    spool = Spool(tmp_path)
    spool.append(items(3))
    [path] = list(tmp_path.iterdir())
    got: list[Normalized] = []
    with python(HOLD_LOCK, str(path)) as writer:
        assert writer.stdout is not None and writer.stdout.readline() == "locked\n"
        assert spool.drain(got.extend) == 0
        assert path.exists()
    assert spool.drain(got.extend) == 3
    assert got == items(3)


def test_a_file_being_drained_is_not_taken_by_another_drainer(tmp_path: Path) -> None:
    """The drainer holds the claim's lock for the whole drain, not just while claiming."""
    web, cli = Spool(tmp_path), Spool(tmp_path)
    web.append(items(3))
    got: list[Normalized] = []
    meanwhile: list[int] = []

    def enqueue(part: list[Normalized]) -> None:
        [path] = list(tmp_path.iterdir())
        assert path.name.endswith(f"-{os.getpid()}.draining")
        meanwhile.append(cli.drain(got.extend))  # another drainer, while this one enqueues
        got.extend(part)

    assert web.drain(enqueue) == 3
    assert meanwhile == [0] and got == items(3)
    assert list(tmp_path.iterdir()) == []
