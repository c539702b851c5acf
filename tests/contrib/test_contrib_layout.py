"""The integrations run inside web processes: set up as an app would, then tracking a full
batch (so a deliver trigger is sent), they load no worker code, requests or sentry_sdk. Read
from ``sys.modules`` in a fresh interpreter, as ``tests/test_layout.py`` does for ``track()``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.test_layout import NOT_WEB

SETUP = {
    "flask": """
from flask import Flask
from tracking_worker.contrib.flask import TrackingWorker
app = Flask("shop")
app.config["TRACKING_WORKER"] = CONFIG
TrackingWorker(app)
""",
    "django": """
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["tracking_worker.contrib.django"], TRACKING_WORKER=CONFIG)
django.setup()
""",
}


@pytest.mark.parametrize("framework", sorted(SETUP))
def test_an_integrated_web_process_loads_no_worker_code(
    framework: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    pytest.importorskip(framework)
    config = {
        "redis": {"url": redis_url},
        "producer": {"spool_dir": str(tmp_path)},
        "providers": {"graspil": {"api_key": "key-1234", "targets": {"purchase": 1}}},
    }
    code = f"""
import json, sys
CONFIG = {config!r}
{SETUP[framework]}
import tracking_worker
tracking_worker.track_many([{{"name": "purchase", "telegram_id": n}} for n in range(1, 101)])
print(json.dumps(sorted(sys.modules)))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKING_", "DJANGO_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert redis_client.llen("tracking.graspil") == 1, "the full batch sent its trigger"
    loaded = json.loads(done.stdout)
    assert [m for m in loaded if m == "requests" or m.startswith(NOT_WEB)] == []
