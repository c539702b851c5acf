"""`tracking-worker suppress` with a real worker: a suppressed person's events, tracked or
imported, never reach a provider; everyone else's do; status, metrics and `suppress list`
count them, and nothing shows the identifiers in plain."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import redis
from prometheus_client import generate_latest

from tests.helpers import wait_for
from tests.ops.support import cli, event, offline_env
from tests.ops.test_exporter import parse, value
from tests.system import System
from tracking_worker.ops.exporter import registry
from tracking_worker.providers import REGISTRY
from tracking_worker.sandbox import SandboxServer

OPTED = "opted.out@example.test"
PROVIDERS = ("graspil", "vibetrace")


def test_suppressed_people_s_events_are_dropped_at_the_door_and_counted(
    make_system: Callable[..., System],
    sandbox: SandboxServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    system = make_system(providers=list(PROVIDERS))
    env = system.env
    added = cli(env, "suppress", "add", "--email", "  Opted.Out@Example.TEST ")
    assert added.returncode == 0, added.stderr
    every = len(REGISTRY)
    assert (
        added.stdout.splitlines()[-1] == f"suppressed ({every} of {every} provider lists changed)"
    )
    assert added.stdout.startswith("email:") and "@" not in added.stdout
    again = cli(env, "suppress", "add", "--email", OPTED)
    assert again.returncode == 0 and again.stdout.splitlines()[-1] == "already suppressed"

    system.tracker.track_many([event(1, email=OPTED), event(2)])
    lines = [json.dumps(event(3, email=OPTED.upper())), json.dumps(event(4))]
    (tmp_path / "backfill.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = cli(env, "import", str(tmp_path / "backfill.jsonl"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(
        "1 event(s) enqueued, 0 already present, 1 of suppressed people dropped, "
    )

    for provider in PROVIDERS:
        wait_for(lambda p=provider: system.settled(p, 2), 45, message=system.log())
    assert sorted(item["user_id"] for item in sandbox.received("graspil")) == [2, 4]
    emails = [order["user"]["email"] for order in sandbox.received("vibetrace")]
    assert sorted(emails) == ["user2@example.test", "user4@example.test"]

    status = json.loads(cli(env, "status", "--json").stdout)
    assert {p: status[p]["suppressed"] for p in PROVIDERS} == {p: 2 for p in PROVIDERS}
    assert {p: status[p]["enqueued"] for p in PROVIDERS} == {p: 2 for p in PROVIDERS}
    scraped = parse(generate_latest(registry(system.settings, redis_client)).decode())
    for provider in PROVIDERS:
        got = value(
            scraped, "tracking_worker_events_total", provider=provider, outcome="suppressed"
        )
        assert got == 2

    listed = cli(env, "suppress", "list", "--json")
    [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["kind"] == "email" and entry["dropped"] == 4  # 2 events x 2 providers
    assert len(entry["hash"]) == 16 and len(entry["providers"]) == every
    table = cli(env, "suppress", "list").stdout
    assert "opted" not in table.lower() and "@" not in table
    assert table.splitlines()[-1] == "1 identifier(s) suppressed"

    removed = cli(env, "suppress", "remove", "--email", OPTED)
    assert (
        removed.stdout.splitlines()[-1]
        == f"no longer suppressed ({every} of {every} provider lists changed)"
    )
    assert cli(env, "suppress", "list").stdout.strip() == "nobody is suppressed"


def test_suppress_needs_an_identifier_and_a_reachable_redis(tmp_path: Path) -> None:
    env = offline_env("redis://127.0.0.1:1/0", tmp_path)
    usage = cli(env, "suppress", "add")
    assert usage.returncode == 2 and "Give at least one of" in usage.stderr
    down = cli(env, "suppress", "add", "--telegram-id", "5")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.startswith("tracking-worker: ") and len(down.stderr.splitlines()) == 1
    listing = cli(env, "suppress", "list")
    assert listing.returncode == 1 and "Traceback" not in listing.stderr
