"""`tracking-worker dlq` on real dead letters: each of the five providers refused one event
through the sandbox, and the worker dead-lettered it with that provider's own words."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from tests.helpers import wait_for
from tests.ops.support import ALL, KINDS, REASONS, REFUSED, cli, finish, start_cli
from tests.system import System
from tracking_worker.keys import Keys
from tracking_worker.sandbox import SandboxServer


def listed(system: System, *args: str) -> list[dict[str, Any]]:
    done = cli(system.env, "dlq", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_an_empty_system_has_nothing_to_list_replay_or_purge(empty_system: System) -> None:
    env = empty_system.env
    assert cli(env, "dlq", "list").stdout.strip() == "no dead letters"
    assert cli(env, "dlq", "list", "--json").stdout == ""
    assert cli(env, "dead", "list", "graspil").stdout == ""
    replayed = cli(env, "dlq", "replay")
    assert replayed.returncode == 0
    assert replayed.stdout.splitlines() == [
        f"0 dead letter(s) of {p} moved back to pending" for p in ALL
    ]
    assert cli(env, "dlq", "purge").stdout.strip() == "nothing to purge"
    missing = cli(env, "dlq", "show", "1-0")
    assert missing.returncode == 1 and "no dead letter '1-0'" in missing.stderr


def test_list_shows_each_providers_reason_with_emails_masked(dead_system: System) -> None:
    env = dead_system.env
    entries = listed(dead_system)
    assert sorted(e["provider"] for e in entries) == sorted(ALL)
    for entry in entries:
        assert REASONS[entry["provider"]] in entry["reason"], entry
        assert entry["event"]["telegram_id"] == REFUSED and entry["attempts"] == 1
        assert entry["event"]["email"] == "u***@example.test"
        assert entry["kind"] == KINDS[entry["provider"]]
    table = cli(env, "dlq", "list")
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["time", "provider", "event", "event", "id", "reason", "attempts"]
    by_provider = {
        line.split()[2]: line for line in lines if line.split()[2:3] and line[:2] == "20"
    }
    assert set(by_provider) == set(ALL)
    for entry in entries:
        row = by_provider[entry["provider"]]
        assert entry["event"]["event_id"] in row and row.rstrip().endswith(" 1")
    assert f"user{REFUSED}@example.test" not in table.stdout + json.dumps(entries)


def test_list_filters(dead_system: System) -> None:
    assert [e["provider"] for e in listed(dead_system, "--provider", "giosg")] == ["giosg"]
    assert [e["provider"] for e in listed(dead_system, "giosg")] == ["giosg"]  # old spelling
    found = {e["provider"] for e in listed(dead_system, "--reason", "NOT FOUND")}
    assert found == {"graspil", "vibetrace"}
    assert len(listed(dead_system, "--since", "1h")) == 5
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert listed(dead_system, "--since", later) == []
    assert cli(dead_system.env, "dlq", "list", "--since", later).stdout.strip() == (
        "no dead letters match"
    )
    newest = listed(dead_system, "--limit", "2")
    assert newest == listed(dead_system)[:2]


def test_a_cut_list_says_how_many_it_left_out(dead_system: System) -> None:
    """Five dead letters, one per provider: --limit 2 says "2 of 5", below the table (on
    stderr with --json, whose stdout stays one object per line); a filtered list cannot
    count without reading every letter, and says more match."""
    env = dead_system.env
    table = cli(env, "dlq", "list", "--limit", "2")
    assert table.stdout.splitlines()[-1] == "2 of 5 (use --limit)"
    as_json = cli(env, "dlq", "list", "--json", "--limit", "2")
    assert len(as_json.stdout.splitlines()) == 2
    assert as_json.stderr.strip() == "tracking-worker: 2 of 5 (use --limit)"
    filtered = cli(env, "dlq", "list", "--since", "1h", "--limit", "4")
    assert filtered.stdout.splitlines()[-1] == "4 shown; more match (use --limit)"
    assert "use --limit" not in cli(env, "dlq", "list", "--limit", "5").stdout
    unknown = cli(dead_system.env, "dlq", "list", "--provider", "nope")
    assert unknown.returncode == 1 and "'nope' is not configured" in unknown.stderr


def test_show_prints_one_entry_whole(dead_system: System) -> None:
    [entry] = listed(dead_system, "--provider", "vibetrace")
    shown = cli(dead_system.env, "dlq", "show", entry["id"])
    assert shown.returncode == 0
    whole = json.loads(shown.stdout)
    assert whole == entry
    assert {"excerpt", "status", "batch", "dead_at", "kind"} <= set(whole)
    revealed = json.loads(cli(dead_system.env, "dlq", "show", entry["id"], "--reveal").stdout)
    assert revealed["event"]["email"] == f"user{REFUSED}@example.test"
    event_id = entry["event"]["event_id"]
    by_event_id = cli(dead_system.env, "dlq", "show", event_id, "--provider", "vibetrace")
    assert json.loads(by_event_id.stdout) == entry
    ambiguous = cli(dead_system.env, "dlq", "show", event_id)  # dead for all five providers
    assert ambiguous.returncode == 1
    assert ambiguous.stderr.strip() == (
        f"tracking-worker: {event_id!r} is a dead letter of {', '.join(ALL)}: "
        "choose with --provider"
    )


def test_replay_moves_letters_back_with_the_same_event_ids(
    dead_system: System, sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    assert dead_system.beat is not None
    dead_system.beat.kill()  # the replayed events wait in pending until `tick` below
    before = {e["provider"]: e["event"]["event_id"] for e in listed(dead_system)}

    dry = cli(dead_system.env, "dlq", "replay", "--dry-run")
    assert dry.stdout.splitlines() == [
        f"1 dead letter(s) of {p} would move back to pending" for p in ALL
    ]
    assert all(dead_system.counts(p)["dead_stored"] == 1 for p in ALL)

    sandbox.reset()  # the cause is fixed: every provider knows user 107 now
    replayed = cli(dead_system.env, "dlq", "replay", "--rate", "20")
    assert replayed.stdout.splitlines() == [
        f"1 dead letter(s) of {p} moved back to pending" for p in ALL
    ]
    for provider in ALL:
        [raw] = redis_client.lrange(Keys(provider).pending, 0, -1)
        assert json.loads(raw)["event_id"] == before[provider]
    assert cli(dead_system.env, "dlq", "list").stdout.strip() == "no dead letters"

    assert "deliveries started" in cli(dead_system.env, "tick").stdout
    wait_for(
        lambda: all(dead_system.counts(p)["delivered"] == 10 for p in ALL),
        30,
        message=dead_system.log(),
    )
    assert sandbox.received("graspil")[0]["user_id"] == REFUSED


def test_purge_asks_first(dead_system: System) -> None:
    refused = cli(dead_system.env, "dlq", "purge", "--provider", "graspil", stdin="n\n")
    assert refused.returncode == 1 and "Purge 1 dead letter(s) (graspil: 1)" in refused.stdout
    assert dead_system.counts("graspil")["dead_stored"] == 1

    purged = cli(dead_system.env, "dlq", "purge", "--reason", "not found", "--yes")
    assert purged.returncode == 0
    assert purged.stdout.splitlines() == [
        "1 dead letter(s) of graspil purged",
        "1 dead letter(s) of vibetrace purged",
    ]
    left = {p: dead_system.counts(p)["dead_stored"] for p in ALL}
    assert left == {"graspil": 0, "tganalytics": 1, "grampixel": 1, "giosg": 1, "vibetrace": 0}
    assert dead_system.counts("graspil")["purged"] == 1

    confirmed = cli(dead_system.env, "dlq", "purge", stdin="y\n")
    assert confirmed.returncode == 0 and "Purge 3 dead letter(s)" in confirmed.stdout
    assert all(dead_system.counts(p)["dead_stored"] == 0 for p in ALL)


def test_dead_is_kept_as_the_old_name(dead_system: System) -> None:
    old = cli(dead_system.env, "dead", "list", "graspil")
    assert old.returncode == 0 and "deprecated; use `dlq`" in old.stderr
    [entry] = [json.loads(line) for line in old.stdout.splitlines()]
    assert entry["provider"] == "graspil" and REASONS["graspil"] in entry["reason"]
    table = cli(dead_system.env, "dead", "list", "graspil", "--table")
    assert table.stdout.splitlines()[0].split()[0] == "time"


#: More letters than a page of the stream (500), as a replay reads them.
MANY = 1000


@pytest.fixture
def refusing(make_system: Callable[..., System], sandbox: SandboxServer) -> System:
    """Graspil alone, refusing user 107: MANY events tracked, all dead-lettered (no reject
    storm pause: these tests are about the letters such a provider leaves)."""
    sandbox.reject_matching("graspil", "user_id", REFUSED)
    system = make_system(providers=["graspil"], delivery={"storm_batches": 0})
    system.tracker.track_many([{"name": "purchase", "telegram_id": REFUSED}] * MANY)
    wait_for(lambda: system.settled("graspil", MANY), 60, message=system.log())
    assert system.counts("graspil")["dead_stored"] == MANY
    return system


def replayed(client: redis.Redis) -> int:
    return int(client.hget(Keys("graspil").stats, "replayed") or 0)


def start_replay(system: System, *args: str) -> subprocess.Popen[str]:
    return start_cli(system.env, "dlq", "replay", *args)


def test_a_paced_replay_moves_each_letter_once_while_the_provider_still_refuses(
    refusing: System, redis_client: redis.Redis
) -> None:
    """The worker dead-letters the replayed events again while the replay runs: those new
    letters wait for the next replay instead of keeping this one going."""
    process = start_replay(refusing, "--rate", "250")
    out, err = finish(process, 60)
    assert process.returncode == 0, err
    assert out.splitlines() == [f"{MANY} dead letter(s) of graspil moved back to pending"]
    assert replayed(redis_client) == MANY
    wait_for(lambda: refusing.settled("graspil", 2 * MANY), 60, message=refusing.log())
    assert refusing.counts("graspil")["dead_stored"] == MANY  # refused again, once each


def test_ctrl_c_stops_a_replay_and_prints_how_many_moved(
    refusing: System, redis_client: redis.Redis
) -> None:
    process = start_replay(refusing, "--rate", "100")
    wait_for(lambda: replayed(redis_client) >= 100, 30, message="the replay moves letters")
    process.send_signal(signal.SIGINT)
    out, err = finish(process, 30)
    moved = replayed(redis_client)
    assert 100 <= moved < MANY
    assert out.splitlines() == [f"{moved} dead letter(s) of graspil moved back to pending"]
    assert process.returncode == 130 and "run it again for the rest" in err


def test_a_replay_killed_and_run_again_queues_each_letter_once(
    refusing: System, sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    sandbox.reset()  # the cause is fixed: user 107 is known now
    process = start_replay(refusing, "--rate", "200")
    wait_for(lambda: replayed(redis_client) >= 200, 30, message="the replay moves letters")
    os.killpg(process.pid, signal.SIGKILL)
    finish(process, 10)
    again = cli(refusing.env, "dlq", "replay")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: refusing.counts("graspil")["delivered"] >= MANY, 60, message=refusing.log())
    assert replayed(redis_client) == MANY
    wait_for(lambda: refusing.settled("graspil", MANY), 30, message=refusing.log())
    assert len(sandbox.received("graspil")) == MANY  # each letter sent once: none queued twice
    assert refusing.counts("graspil")["dead_stored"] == 0
