"""``tracking-worker forget`` as a user runs it: a table or JSON of what it removed where, the
same answer of zeros when run again, and a usage error without an identifier. (Redis down, a
wrong password and keys of the wrong type: tests/e2e/test_cli_failures.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from prometheus_client import generate_latest

import tracking_worker
from tests.ops.support import ALL, cli, event, offline_env
from tests.ops.test_exporter import parse, value
from tracking_worker.keys import Keys
from tracking_worker.ops.exporter import registry
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import load_settings


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Five providers, no worker: Ann's (user5) two events and three others' wait in pending."""
    env = offline_env(redis_url, tmp_path)
    tracker = Tracker(load_settings(environ=env))
    tracker.trigger = lambda name: None
    tracker.track_many([event(5), event(6), event(7), event(5), event(8)])
    tracker.close()
    return env


def test_forget_reports_per_provider_as_json_then_finds_nothing(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    """Ann by her e-mail in another case, with spaces around it; status and the metrics count
    her events as forgotten."""
    done = cli(env, "forget", "--email", "  USER5@Example.TEST ", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    pending = {name: got["pending"] for name, got in report["providers"].items()}
    assert pending == {name: 2 for name in ALL}
    assert report["removed"] == 10 and report["unsettled_batches"] == 0
    assert report["files"]["spool"] == 0 and report["files"]["directory"].endswith("spool")

    again = json.loads(cli(env, "forget", "--email", "user5@example.test", "--json").stdout)
    assert again["removed"] == 0
    assert all(set(got.values()) == {0} for got in again["providers"].values())
    status = json.loads(cli(env, "status", "--json").stdout)
    assert {name: status[name]["forgotten"] for name in ALL} == {name: 2 for name in ALL}
    scraped = parse(generate_latest(registry(load_settings(environ=env), redis_client)).decode())
    for name in ALL:
        assert (
            value(scraped, "tracking_worker_events_total", provider=name, outcome="forgotten") == 2
        )


def test_forget_prints_a_table_and_says_files_elsewhere_are_not_touched(
    env: dict[str, str],
) -> None:
    done = cli(env, "forget", "--telegram-id", "6", "--visitor-id", "visitor-7")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line}
    assert rows["provider"] == ["pending", "retry", "in_flight", "parked", "dead", "receipts"]
    assert rows["graspil"] == ["2", "0", "0", "0", "0", "0"]
    assert rows["total"][0] == "10"
    assert "files on other hosts are not touched" in done.stdout


@pytest.mark.parametrize(
    "args",
    [[], ["--json"], ["--telegram-id", "0"], ["--telegram-id", "x"], ["--email", "  "]],
    ids=["none", "json only", "id 0", "not a number", "blank e-mail"],
)
def test_forget_without_a_usable_identifier_changes_nothing(
    env: dict[str, str], args: list[str]
) -> None:
    done = cli(env, "forget", *args)
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    assert json.loads(cli(env, "status", "--json").stdout)["graspil"]["pending"] == 5


def test_forget_with_suppress_also_drops_what_is_tracked_after(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    """`forget --suppress`: Ann's queued events go, and her next one is dropped at the door
    (counted suppressed), while another person's still goes in; tracking_worker.forget(...,
    suppress=True) does the same from Python."""
    done = cli(env, "forget", "--email", "user5@example.test", "--suppress", "--json")
    assert done.returncode == 0, done.stderr
    assert "1 identifier(s) suppressed" in done.stdout
    report = json.loads(done.stdout.split("\n", 1)[1])
    assert report["removed"] == 10
    settings = load_settings(environ=env)
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None
    tracker.track_many([event(5), event(9)])
    tracker.close()
    for name in ALL:
        k = Keys(name)
        assert redis_client.llen(k.pending) == 4  # 6, 7, 8 and 9: not Ann's
        assert redis_client.hget(k.stats, "suppressed") == b"1"
    tracking_worker.forget(telegram_id=6, suppress=True, settings=settings)
    tracker = Tracker(settings)
    tracker.trigger = lambda name: None
    tracker.track("purchase", telegram_id=6, value=1.0, currency="usd")
    tracker.close()
    assert redis_client.hget(Keys("graspil").stats, "suppressed") == b"2"
