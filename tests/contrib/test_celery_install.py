"""``tracking_worker.install(app)``: our tasks, queues, tick and presence in a host's own Celery
app, which keeps its serializer, routes, settings and schedule; one worker of that app runs both."""

from __future__ import annotations

import json
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest
import redis

import tracking_worker
from tests.contrib.host_celery import BEAT_KEY, DONE_KEY, make_app
from tests.helpers import wait_for
from tests.system import System
from tracking_worker import routing
from tracking_worker.devtools import Child, beat_args, worker_args
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
HOST_APP = "tests.contrib.host_celery"


def host_command(args: list[str]) -> list[str]:
    """The devtools command line (this interpreter, ``-m celery``), for the host's app."""
    args = list(args)
    args[args.index("-A") + 1] = HOST_APP
    return args


def content_type(raw: bytes | str) -> str:
    return str(json.loads(raw)["content-type"])


def test_install_keeps_the_hosts_settings_and_adds_ours(
    redis_url: str, redis_client: redis.Redis
) -> None:
    settings = load_settings(
        {"redis": {"url": redis_url}, "providers": {"graspil": _graspil()}}, environ={}
    )
    app = make_app(redis_url)
    assert tracking_worker.install(app, settings) == ["tracking", "tracking.graspil"]

    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer) == ("pickle", "pickle")
    assert conf.accept_content == ["pickle", "json"]  # ours added, theirs kept
    assert conf.task_default_queue == "host"
    assert conf.task_routes == {"host.*": {"queue": "host"}, "*": {"queue": "host-misc"}}
    assert (conf.task_time_limit, conf.worker_prefetch_multiplier) == (300, 4)
    assert [q.name for q in conf.task_queues] == ["host", "tracking", "tracking.graspil"]
    assert set(conf.beat_schedule) == {"host-heartbeat"}  # our tick runs in beat, no task
    assert "TrackingPresence" in {step.__name__ for step in app.steps["worker"]}

    deliver, host_task = app.tasks[routing.DELIVER_TASK], app.tasks["host.record"]
    assert deliver.serializer == "json" and deliver.time_limit == 320.0
    assert host_task.serializer == "pickle" and host_task.rate_limit == "100/s"

    # What goes on the wire: our trigger as JSON on our queue despite the catch-all route, the
    # host's task pickled on its own route.
    routing.send_deliver(app, "graspil", flush=False)
    app.send_task("host.record", args=[DONE_KEY, {1, 2}])
    (ours,) = redis_client.lrange("tracking.graspil", 0, -1)
    (theirs,) = redis_client.lrange("host", 0, -1)
    assert content_type(ours) == "application/json"
    assert content_type(theirs) == "application/x-python-serialize"


def test_a_host_worker_runs_its_own_tasks_and_our_delivery(
    redis_url: str, redis_client: redis.Redis, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """``celery -A <host app> worker`` and ``beat``: the host's pickled task runs, its beat entry
    fires, and a single event (no full batch: only our tick, in the host's beat, starts its
    delivery) reaches the provider's sandbox."""
    system = System(tmp_path, redis_url, sandbox.url, providers=["graspil"])
    # C_FORCE_ROOT: Celery refuses to accept pickle when run as root (as CI containers are).
    env = {**system.env, "HOST_BROKER_URL": redis_url, "C_FORCE_ROOT": "1"}
    hostname = f"host-{os.getpid()}@{socket.gethostname()}"
    children = [
        Child(
            "host-worker",
            host_command(worker_args(concurrency=2, hostname=hostname)),
            env=env,
            cwd=str(ROOT),
            log_path=tmp_path / "worker.log",
        ).start(),
        Child(
            "host-beat",
            host_command(beat_args(tmp_path / "beat-schedule")),
            env=env,
            cwd=str(ROOT),
            log_path=tmp_path / "beat.log",
        ).start(),
    ]
    try:
        system.tracker.track("purchase", telegram_id=5842703839, value=19.99, currency="usd")
        make_app(redis_url).send_task("host.record", args=[DONE_KEY, {"pickled", "set"}])

        received = wait_for(lambda: sandbox.received("graspil"), 30, message=system.log())
        assert [item["user_id"] for item in received] == [5842703839]
        done = wait_for(lambda: redis_client.get(DONE_KEY), 15, message="host task ran")
        assert isinstance(done, bytes) and pickle.loads(done) == {"pickled", "set"}
        wait_for(lambda: redis_client.get(BEAT_KEY), 15, message="host beat entry ran")
    finally:
        for child in children:
            child.kill()
        system.tracker.close()


def _graspil() -> dict[str, Any]:
    return provider_settings("http://127.0.0.1:9")["graspil"]


def test_install_reads_the_flask_apps_config_when_given(redis_url: str) -> None:
    """A Flask project's worker: the providers of app.config["TRACKING_WORKER"], as the views'
    track() has them (here: none of them in the environment)."""
    flask = pytest.importorskip("flask")
    web = flask.Flask("shop")
    web.config["TRACKING_WORKER"] = {
        "redis": {"url": redis_url},
        "providers": {"graspil": _graspil(), "grampixel": _sandboxed("grampixel")},
    }
    queues = tracking_worker.install(make_app(redis_url), flask_app=web)
    assert queues == ["tracking", "tracking.graspil", "tracking.grampixel"]
    web.config["TRACKING_WORKER"] = ["not", "sections"]
    with pytest.raises(
        tracking_worker.ConfigurationError, match=r"app.config\['TRACKING_WORKER'\]"
    ):
        tracking_worker.install(make_app(redis_url), flask_app=web)


def test_a_worker_with_nothing_to_deliver_is_told_why(redis_url: str) -> None:
    from tracking_worker.worker.startup import idle_reasons

    both = load_settings(
        {
            "redis": {"url": redis_url},
            "providers": {"graspil": _graspil(), "giosg": _sandboxed("giosg")},
        },
        environ={},
    )
    assert idle_reasons(both, ["celery", "tracking", "tracking.graspil", "tracking.giosg"]) == []
    [some] = idle_reasons(both, ["tracking", "tracking.graspil"])
    assert "does not consume tracking.giosg" in some
    [none] = idle_reasons(both, ["celery"])
    assert "none of the provider queues" in none
    assert "-Q tracking,tracking.graspil,tracking.giosg" in none
    [empty] = idle_reasons(load_settings({"redis": {"url": redis_url}}, environ={}), ["tracking"])
    assert "no provider" in empty


def _sandboxed(provider: str) -> dict[str, Any]:
    return provider_settings("http://127.0.0.1:9")[provider]
