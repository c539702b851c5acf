"""Running the tracking-worker command as a user does (a subprocess on a config file), and
the two systems every command is tested on: an empty one, and one whose five providers each
rejected an event, so each holds a dead letter with that provider's own reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.devtools import demo_settings, write_config
from tracking_worker.keys import Keys
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue, Settlement

ALL = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")
#: The event every provider refuses, by the field its API carries the user in.
REFUSED = 107
REJECT_RULES = {
    "graspil": ("user_id", REFUSED),
    "tganalytics": ("user_id", REFUSED),
    "grampixel": ("telegram_id", REFUSED),
    "giosg": ("visitor_identity", f"visitor-{REFUSED}"),
    "vibetrace": ("user.email", f"user{REFUSED}@example.test"),
}
#: What each provider's dead letter must quote.
REASONS = {
    "graspil": "The user with this id was not found",
    "tganalytics": "VALIDATION_MISMATCH_REPORT",
    "grampixel": "telegram_id was rejected",
    "giosg": "no_visitor_session",
    "vibetrace": "User not found",
}
#: The dead letter's kind: giosg's and VibeTrace's refusals are "not yet" answers, dead at
#: once here (``not_yet_delays = []``).
KINDS = {p: "not_yet" if p in ("giosg", "vibetrace") else "rejected" for p in ALL}
EVENTS = range(100, 110)


def cli(
    env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracking_worker.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        check=False,
    )


def start_cli(env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
    """The command running, in a session of its own (``finish`` kills its whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tracking_worker.cli", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Its stdout and stderr once it ends; killed at the deadline."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def offline_env(redis_url: str, home: Path) -> dict[str, str]:
    """A config of all five providers on ``redis_url`` with no worker and no sandbox behind
    them: what a command enqueues stays in the pending lists."""
    config = home / "tracking.toml"
    data = demo_settings(redis_url, "http://127.0.0.1:9")
    data["producer"] = {"spool_dir": str(home / "spool")}
    write_config(config, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
    env["TRACKING_CONFIG"] = str(config)
    return env


def event(n: int, **extra: Any) -> dict[str, Any]:
    """A purchase every provider can take: all identities, value, order id."""
    return {
        "name": "purchase",
        "telegram_id": n,
        "email": f"user{n}@example.test",
        "visitor_id": f"visitor-{n}",
        "session_id": str(uuid.uuid4()),
        "value": 25.5,
        "currency": "EUR",
        "order_id": f"order-{n}",
        **extra,
    }


def with_dead_letters(make_system: Callable[..., System], sandbox: SandboxServer) -> System:
    """All five providers, ten events each, event 107 refused by every one of them."""
    for provider, (field, value) in REJECT_RULES.items():
        sandbox.reject_matching(provider, field, value)
    system = make_system(delivery={"not_yet_delays": []})
    system.tracker.track_many([event(n) for n in EVENTS])
    wait_for(lambda: all(system.settled(p, len(EVENTS)) for p in ALL), 45, message=system.log())
    for provider in ALL:
        assert system.counts(provider)["dead"] == 1, provider
    return system


def record_requests(
    client: redis.Redis, provider: str, requests: list[tuple[str, float]]
) -> ProviderQueue:
    """Requests recorded as a worker records them: with the batch they carried (one event,
    queued, claimed and settled as delivered), ``requests`` being (status class, seconds)."""
    queue = ProviderQueue(client, Scripts(), Keys(provider))
    client.rpush(queue.keys.pending, json.dumps({"event_id": uuid.uuid4().hex, "name": "a"}))
    batch = queue.claim(lease=30, size=100, flush=True, wait=0)
    assert batch is not None
    assert queue.settle(batch, Settlement(delivered=1, requests=len(requests), timings=requests))
    return queue
