"""The Procfile's Flower, run as the Procfile says, against a real worker: a delivery task can
be read back through Flower's HTTP API with the basic-auth credentials, and nothing without."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.devtools import Child, free_port, worker_args
from tracking_worker.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = "ops:s3cret-flower"


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in the Procfile")


def start_flower(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The Procfile's line through a shell, as honcho or foreman would run it."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            ["/bin/sh", "-c", procfile_command("flower")],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def get(url: str, auth: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
        return 0, None


@pytest.fixture
def flower_env(
    make_system: Callable[..., System], sandbox: SandboxServer, tmp_path: Path
) -> Iterator[tuple[System, str]]:
    """A system whose worker sends task events (as the Procfile's does), and Flower on it."""
    system = make_system(providers=["graspil"], beat=False)
    assert system.worker is not None
    system.worker.kill()  # replaced by one with --task-events, as in the Procfile
    system.worker = Child(
        "worker",
        [*worker_args(concurrency=1, hostname=system.hostname), "--task-events"],
        env=system.env,
        log_path=system.home / "worker.log",
    ).start()
    port = free_port()
    env = {
        **system.env,
        "PORT": str(port),
        "FLOWER_BASIC_AUTH": CREDENTIALS,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    flower = start_flower(env, tmp_path / "flower.log")
    try:
        yield system, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(flower.pid, signal.SIGKILL)
        flower.wait()


def test_a_delivery_task_is_read_back_through_flower_with_auth(
    flower_env: tuple[System, str], tmp_path: Path
) -> None:
    system, base = flower_env
    wait_for(lambda: get(f"{base}/api/workers", CREDENTIALS)[0] == 200, 20, message="flower up")
    system.wait_worker_ready()

    def delivered(result: object) -> int:
        found = re.search(r"'delivered': (\d+)", str(result))
        return int(found.group(1)) if found else 0

    def delivered_task() -> dict[str, Any] | None:
        # A run that delivered (a tick may also have started one that found nothing left,
        # or found the run slot busy).
        status, tasks = get(f"{base}/api/tasks?taskname=tracking_worker.deliver", CREDENTIALS)
        done = [
            t
            for t in (tasks or {}).values()
            if t.get("state") == "SUCCESS" and delivered(t.get("result")) >= 100
        ]
        return done[0] if status == 200 and done else None

    # Flower's API answers before its event consumer has subscribed, and a batch delivered in
    # between is never seen: another batch goes out until a delivery shows (at most 4).
    task = None
    for first in range(1, 401, 100):
        system.tracker.track_many(
            [{"name": "purchase", "telegram_id": n} for n in range(first, first + 100)]
        )
        try:
            task = wait_for(delivered_task, 15, interval=0.3, message="flower saw a delivery")
            break
        except AssertionError:
            continue
    assert task is not None, (tmp_path / "flower.log").read_text()[-3000:]
    status, info = get(f"{base}/api/task/info/{task['uuid']}", CREDENTIALS)
    assert status == 200
    assert info["name"] == "tracking_worker.deliver" and "graspil" in info["args"]
    assert delivered(info["result"]) >= 100, info["result"]

    assert get(f"{base}/api/tasks")[0] == 401
    assert get(f"{base}/api/task/info/{task['uuid']}", "ops:wrong")[0] == 401
    # The Procfile binds it to loopback unless FLOWER_ADDRESS says otherwise (it printed
    # "Visit me at http://127.0.0.1" while listening on every interface).
    assert listening(int(base.rsplit(":", 1)[1])) == {"127.0.0.1"}


def listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (Linux's /proc/net tables)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]  # little-endian words
            packed = b"".join(words)
            found.add(str(ipaddress.ip_address(packed)))
    return {a.removeprefix("::ffff:") for a in found}


def test_flower_does_not_start_without_credentials(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    env.pop("FLOWER_BASIC_AUTH", None)
    flower = start_flower(env, tmp_path / "flower.log")
    try:
        assert flower.wait(20) != 0
    finally:
        if flower.poll() is None:
            os.killpg(flower.pid, signal.SIGKILL)
    assert "FLOWER_BASIC_AUTH" in (tmp_path / "flower.log").read_text()
