"""Each example run as ``examples/README.md`` says, from a copy of the files the repository
tracks (what a clean checkout holds): the Flask app and the Django site served by their own
``run``/``runserver``, a purchase posted to them over HTTP, delivered by the worker and beat
the README names to the sandbox, and their status commands; the bot's shipped ``tracking.toml``
read as the bot reads it, its events delivered the same way. Only the providers' address is
changed (a TRACKING_CONFIG line pointing at the sandbox), and a port is chosen."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tracking_worker.devtools import Child, beat_args, free_port, worker_args
from tracking_worker.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
BUYER = 5842703839

pytest.importorskip("django")
pytest.importorskip("flask")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The examples folder as a clean checkout has it (tracked files only)."""
    listed = subprocess.run(
        ["git", "ls-files", "examples"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in listed:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return tmp_path / "examples"


@pytest.fixture
def env(redis_url: str, sandbox: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """What an operator sets: Redis, Graspil's key; TRACKING_CONFIG only moves Graspil to the
    sandbox (the examples' own settings are merged over it) and names the worker's provider."""
    config = tmp_path / "sandboxed.toml"
    config.write_text(
        "[providers.graspil]\n"
        'api_key = "${GRASPIL_API_KEY}"\n'
        "targets = { registration = 3, purchase = 12 }\n"
        f'base_url = "{sandbox.url}"\n'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKING_", "DJANGO_"))}
    return {
        **clean,
        "TRACKING_REDIS_URL": redis_url,
        "TRACKING_CONFIG": str(config),
        "GRASPIL_API_KEY": sandbox.credentials("graspil")["api_key"],
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{clean.get('PATH', '')}",
    }


@pytest.fixture
def delivering(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """`celery -A tracking_worker worker` and `beat` on the same settings, as the README says."""
    name = f"examples-{os.getpid()}@{socket.gethostname()}"
    children = [
        Child(
            "worker",
            worker_args(concurrency=1, hostname=name),
            env=env,
            log_path=tmp_path / "w.log",
        ),
        Child("beat", beat_args(tmp_path / "schedule"), env=env, log_path=tmp_path / "b.log"),
    ]
    for child in children:
        child.start()
    yield
    for child in children:
        child.kill()


def serve(args: list[str], folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            args, cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        found: dict[str, object] = json.loads(answer.read())
        return found


def posted_when_up(url: str, body: dict[str, object]) -> dict[str, object]:
    def attempt() -> dict[str, object] | None:
        try:
            return post(url, body)
        except (urllib.error.URLError, ConnectionError):
            return None

    found = wait_for(attempt, 30, interval=0.2, message=f"{url} serves")
    assert found is not None
    return found


def run(args: list[str], folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def delivered(sandbox: SandboxServer) -> list[object]:
    return [item["user_id"] for item in sandbox.received("graspil")]


@pytest.mark.usefixtures("delivering")
def test_the_flask_app_as_its_readme_says(
    checkout: Path, env: dict[str, str], sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder, port = checkout / "flask_app", free_port()
    server = serve(
        ["flask", "--app", "shop", "run", "--port", str(port)], folder, env, tmp_path / "f.log"
    )
    try:
        body = {"telegram_id": BUYER, "amount": 19.99, "currency": "usd", "order_id": "A-1"}
        posted_when_up(f"http://127.0.0.1:{port}/checkout", body)
        wait_for(lambda: delivered(sandbox) == [BUYER], 30, message=str(tmp_path / "w.log"))
    finally:
        server.kill()
    status = run(["flask", "--app", "shop", "tracking", "status", "--json"], folder, env)
    assert json.loads(status)["graspil"]["delivered"] == 1


@pytest.mark.usefixtures("delivering")
def test_the_django_site_as_its_readme_says(
    checkout: Path, env: dict[str, str], sandbox: SandboxServer, tmp_path: Path
) -> None:
    folder, port = checkout / "django_site", free_port()
    run([sys.executable, "manage.py", "migrate", "--noinput"], folder, env)
    args = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    server = serve(args, folder, env, tmp_path / "d.log")
    try:
        body = {"telegram_id": BUYER, "amount": "19.99", "currency": "usd"}
        posted_when_up(f"http://127.0.0.1:{port}/checkout/", body)
        wait_for(lambda: delivered(sandbox) == [BUYER], 30, message=str(tmp_path / "w.log"))
    finally:
        server.kill()
    status = run([sys.executable, "manage.py", "tracking_status", "--json"], folder, env)
    assert json.loads(status)["graspil"]["delivered"] == 1


@pytest.mark.usefixtures("delivering")
def test_the_bots_shipped_config_as_its_readme_says(
    checkout: Path, env: dict[str, str], sandbox: SandboxServer
) -> None:
    """``TRACKING_CONFIG=tracking.toml`` in the bot's folder (the file ships there), its
    dispatcher built and its tracker configured as ``main()`` does, then an ``atrack`` of the
    kind its /start handler makes. Polling Telegram is the one step left out."""
    folder = checkout / "aiogram_bot"
    bot_env = {**env, "TRACKING_CONFIG": "tracking.toml", "BOT_TOKEN": "42:not-a-token"}
    code = (
        "import asyncio, bot, tracking_worker\n"
        "bot.build_dispatcher()\n"
        "tracking_worker.configure()\n"
        f"asyncio.run(tracking_worker.atrack('registration', telegram_id={BUYER}))\n"
    )
    run([sys.executable, "-c", code], folder, bot_env)
    # The bot's own file names Graspil but not the sandbox: the worker's settings (env) do.
    assert (folder / "tracking.toml").is_file()
    wait_for(lambda: delivered(sandbox) == [BUYER], 30)
