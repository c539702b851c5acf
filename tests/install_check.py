"""The user's install, checked as a user runs it: run by ``make install-check`` with the python
of a fresh virtualenv holding only the built wheel and its ``[embedded]`` extra (no dev extras,
no pytest, no source tree on the path).

(a) ``celery -A tracking_worker worker`` and ``beat`` from that venv, against a private
    redis-server and the sandbox: one ``track()`` per provider must reach every provider.
(b) ``tracking-worker dev --demo --duration 15``: all five providers must deliver.
(c) the pytest plugin is registered: an entry point ``tracking_worker`` in group ``pytest11``
    naming ``tracking_worker.testing``, which imports without pytest (pytest is not installed
    here, so its metadata is what is checked) and captures a ``track()``.
(d) the Procfile's other processes, its own lines through a shell, beside (a)'s worker: the
    metrics exporter serves ``tracking_worker_up 1`` and Flower answers its API with the
    credentials (and 401 without): a plain install runs every process of the Procfile.

Exit 0 when all hold; otherwise the reason and the children's logs, exit 1.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROVIDERS = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")
BIN = Path(sys.executable).parent
PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def main() -> int:
    import tracking_worker

    where = Path(tracking_worker.__file__).resolve()
    if not str(where).startswith(str(Path(sys.prefix).resolve())):
        return _fail(f"tracking_worker imported from {where}, not from the venv {sys.prefix}")
    with tempfile.TemporaryDirectory(prefix="tw-install-") as tmp:
        started = time.monotonic()
        problem = (
            check_pytest_plugin()
            or check_worker_and_beat(Path(tmp) / "a")
            or check_dev_demo(Path(tmp) / "b")
        )
        if problem:
            return _fail(problem)
    print(f"install check passed in {time.monotonic() - started:.0f}s ({where.parent})")
    return 0


def check_pytest_plugin() -> str | None:
    """(c): the entry point pytest would load, and the module it names, used without pytest."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="pytest11") if ep.name == "tracking_worker"]
    if [ep.value for ep in found] != ["tracking_worker.testing"]:
        return f"entry point pytest11 tracking_worker: not tracking_worker.testing but {found}"
    import tracking_worker
    from tracking_worker import testing

    with testing.capture(testing.dummy_settings()) as tracked:
        tracking_worker.track("purchase", telegram_id=5)
    if list(tracked[0].requests) != ["graspil", "grampixel"] or hasattr(testing, "tracked"):
        return f"tracking_worker.testing captured {tracked!r}: {tracked[0] if tracked else None}"
    print("(c) the pytest plugin is registered (pytest11) and captures without pytest")
    return None


def check_worker_and_beat(home: Path) -> str | None:
    """(a): the Celery commands a user types, from the venv's bin folder."""
    from tracking_worker.devtools import EmbeddedRedis, demo_providers, free_port, write_config

    home.mkdir(parents=True)
    server = EmbeddedRedis(home / "redis").start()
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    config = home / "tracking.toml"
    write_config(
        config,
        {
            "redis": {"url": server.url},
            "delivery": {"flush_interval": 0.5},
            "producer": {"spool_dir": str(home / "spool")},
            "providers": demo_providers(sandbox_url),
        },
    )
    env = {**os.environ, "TRACKING_CONFIG": str(config)}
    env.pop("TRACKING_REDIS_URL", None)
    children = [
        _spawn(home, "sandbox", [str(BIN / "tracking-worker"), "sandbox", "--port", str(port)], env)
    ]
    try:
        _wait(lambda: _get(f"{sandbox_url}/_sandbox/health") is not None, 15, "sandbox up")
        for role in ("worker", "beat"):
            args = [str(BIN / "celery"), "-A", "tracking_worker", role, "--loglevel=INFO"]
            children.append(_spawn(home, role, args, env))
        return _track_and_see(home, env, sandbox_url) or _procfile_rest(home, env, children)
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(15)
        server.stop()


def _track_and_see(home: Path, env: dict[str, str], sandbox_url: str) -> str | None:
    """One event every provider takes, tracked in a separate process as a web app would."""
    code = (
        "import tracking_worker, uuid;"
        "print(tracking_worker.track('purchase', telegram_id=5842703839,"
        " email='ann@example.test', visitor_id='visitor-1', session_id=str(uuid.uuid4()),"
        " value=19.99, currency='usd', order_id='A-1001'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=home, capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        return f"track() failed: {done.stderr}"
    event_id = done.stdout.strip()
    missing = list(PROVIDERS)

    def all_received() -> bool:
        missing[:] = [p for p in missing if not _received(sandbox_url, p)]
        return not missing

    if not _wait(all_received, 40, "delivered"):
        return f"event {event_id} not delivered to {missing}\n{_logs(home)}"
    if "Error" in (home / "worker.log").read_text(errors="replace"):
        return f"the worker logged an error\n{_logs(home)}"
    print(
        f"(a) worker + beat from the wheel delivered event {event_id} to {len(PROVIDERS)} providers"
    )
    return None


def _procfile_rest(home: Path, env: dict[str, str], children: list[Any]) -> str | None:
    """(d): the Procfile's metrics and flower lines, as honcho or foreman runs them."""
    from tracking_worker.devtools import free_port

    metrics_port, flower_port = free_port(), free_port()
    env = {
        **env,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "METRICS_PORT": str(metrics_port),
        "PORT": str(flower_port),
        "FLOWER_BASIC_AUTH": "ops:install-check",
    }
    lines = dict(line.split(":", 1) for line in PROCFILE.read_text().splitlines() if ":" in line)
    for name in ("metrics", "flower"):
        children.append(_spawn(home, name, ["/bin/sh", "-c", lines[name].strip()], env))
    scraped: list[str] = []

    def metrics_up() -> bool:
        scraped[:] = [_text(f"http://127.0.0.1:{metrics_port}/metrics") or ""]
        return "tracking_worker_up 1.0" in scraped[0]

    if not _wait(metrics_up, 30, "the metrics exporter"):
        return f"the Procfile's metrics process serves no tracking_worker_up 1\n{_logs(home)}"
    api = f"http://127.0.0.1:{flower_port}/api/workers"
    if not _wait(lambda: _status(api, "ops:install-check") == 200, 30, "flower"):
        return f"the Procfile's flower does not answer its API\n{_logs(home)}"
    if _status(api, None) != 401:
        return "the Procfile's flower answers without credentials"
    print("(d) the Procfile's metrics and flower run from the wheel (flower behind its auth)")
    return None


def _text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def _status(url: str, auth: str | None) -> int:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def check_dev_demo(home: Path) -> str | None:
    """(b): ``make run``'s command, from the venv."""
    home.mkdir(parents=True)
    env = {
        k: v for k, v in os.environ.items() if k not in ("TRACKING_CONFIG", "TRACKING_REDIS_URL")
    }
    args = [str(BIN / "tracking-worker"), "dev", "--demo", "--duration", "15", "--home", str(home)]
    done = subprocess.run(args, env=env, cwd=home, capture_output=True, text=True, timeout=90)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        return f"tracking-worker dev exited {done.returncode}\n{output}\n{_logs(home)}"
    final = output.rsplit("-- final", 1)[-1]
    quiet = [p for p in PROVIDERS if not _delivered_in_table(final, p)]
    if quiet:
        return f"dev --demo: no deliveries to {quiet}\n{output}\n{_logs(home)}"
    print(f"(b) tracking-worker dev --demo delivered to all {len(PROVIDERS)} providers")
    return None


def _delivered_in_table(table: str, provider: str) -> bool:
    """The ``delivered`` column of ``provider``'s row in the final status table."""
    lines = table.strip().splitlines()
    header = next((line.split() for line in lines if line.split()[:1] == ["provider"]), [])
    row = next((line.split() for line in lines if line.split()[:1] == [provider]), [])
    if "delivered" not in header or len(row) != len(header):
        return False
    return int(row[header.index("delivered")]) > 0


def _spawn(home: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (home / f"{name}.log").open("ab")
    return subprocess.Popen(args, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)


def _received(sandbox_url: str, provider: str) -> bool:
    answer = _get(f"{sandbox_url}/_sandbox/received?provider={provider}")
    return bool(answer and answer.get("received"))


def _get(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            answer: dict[str, object] = json.load(response)
            return answer
    except OSError:
        return None


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            print(f"timed out after {timeout}s waiting for: {what}", file=sys.stderr)
            return False
        time.sleep(0.2)  # polling interval of a deadline-bounded wait
    return True


def _logs(home: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(home.glob("*.log"))
    )


def _fail(problem: str) -> int:
    print(f"install check FAILED: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
