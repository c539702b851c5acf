"""The README's Django recipe, run as it says: ``examples/django_site/shop_site/celery.py``
(``config_from_object("django.conf:settings", namespace="CELERY")`` + ``install(app)``),
started with ``celery -A shop_site worker`` and ``beat`` in the site's folder. The worker must
take its providers from ``settings.TRACKING_WORKER``, the same ones the site's ``track()`` uses,
and deliver; a worker left with none of the provider queues says so at start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contrib.support import EXAMPLES
from tests.helpers import wait_for
from tracking_worker.devtools import Child, beat_args, worker_args
from tracking_worker.sandbox import SandboxServer

pytest.importorskip("django")

SITE = EXAMPLES / "django_site"
BUYER = 5842703839


def site_command(args: list[str]) -> list[str]:
    """The devtools command line (this interpreter, ``-m celery``) for the site's app."""
    args = list(args)
    args[args.index("-A") + 1] = "shop_site"
    return args


def site_env(redis_url: str, sandbox: SandboxServer, home: Path) -> dict[str, str]:
    """What an operator sets for the site: its Redis and the Graspil key. Only the provider's
    address comes from a TRACKING_CONFIG file (the sandbox stands in for Graspil), which
    settings.TRACKING_WORKER is merged over, as the site's settings.py says."""
    config = home / "tracking.toml"
    config.write_text(f'[providers.graspil]\nbase_url = "{sandbox.url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKING_", "DJANGO_"))}
    key = sandbox.credentials("graspil")["api_key"]
    env.update(TRACKING_REDIS_URL=redis_url, GRASPIL_API_KEY=key, TRACKING_CONFIG=str(config))
    env["PYTHONPATH"] = os.pathsep.join([str(SITE), env.get("PYTHONPATH", "")])
    return env


def test_the_readme_django_recipe_delivers_with_the_sites_providers(
    redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    env = site_env(redis_url, sandbox, tmp_path)
    hostname = f"site-{os.getpid()}@{socket.gethostname()}"
    children = [
        Child(
            "site-worker",
            site_command(worker_args(concurrency=1, hostname=hostname, loglevel="INFO")),
            env=env,
            cwd=str(SITE),
            log_path=tmp_path / "worker.log",
        ).start(),
        Child(
            "site-beat",
            site_command(beat_args(tmp_path / "beat-schedule")),
            env=env,
            cwd=str(SITE),
            log_path=tmp_path / "beat.log",
        ).start(),
    ]
    try:
        # The site's own track(), from its settings (a shell in the site, as a view would).
        code = (
            f"import tracking_worker; print(tracking_worker.track('purchase', telegram_id={BUYER}))"
        )
        shell = [sys.executable, "manage.py", "shell", "-c", code]
        done = subprocess.run(shell, env=env, cwd=SITE, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        log = tmp_path / "worker.log"
        received = wait_for(lambda: sandbox.received("graspil"), 30, message=str(log))
        assert [item["user_id"] for item in received] == [BUYER]
        assert "consumes none of the provider queues" not in log.read_text()
    finally:
        for child in children:
            child.kill()


def test_a_worker_with_none_of_the_provider_queues_says_so(
    redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """``-Q celery`` (the app's default queue only): events would wait with no error anywhere;
    the worker logs it at ERROR with the -Q to use."""
    env = site_env(redis_url, sandbox, tmp_path)
    args = site_command(worker_args(concurrency=1, hostname=f"q-{os.getpid()}@%h"))
    log = tmp_path / "worker.log"
    child = Child("site-worker", [*args, "-Q", "celery"], env=env, cwd=str(SITE), log_path=log)
    child.start()
    try:
        said = "this worker consumes none of the provider queues"
        wait_for(lambda: said in log.read_text(), 30, message=str(log))
        assert "-Q tracking,tracking.graspil" in log.read_text()
    finally:
        child.kill()
