"""Dead letters live ``delivery.dead_ttl``: older ones go at the next dead-letter write and
at the tick (an idle provider's too), counted as ``dead_aged``; quarantine files older than
``producer.quarantine_ttl`` go at ``spool drain`` and at the tick."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import redis

from tests.helpers import enqueue_call
from tests.ops.support import cli, offline_env
from tests.store.timetravel import age_dead_letters
from tracking_worker.keys import Keys
from tracking_worker.quarantine import QUARANTINE_DIR, Quarantine
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import load_settings
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import DeadEvent, ProviderQueue, Settlement
from tracking_worker.store.status import collect
from tracking_worker.worker.process import WorkerProcess
from tracking_worker.worker.ticker import RETENTION_EVERY

DAY = 86400.0
TTL = 30 * DAY


def kill(queue: ProviderQueue, *names: str) -> None:
    """Enqueue these events, claim them and dead-letter them all, as a worker would."""
    raws = [json.dumps({"event_id": name, "name": "purchase"}) for name in names]
    queue.scripts.call(queue.client, enqueue_call(raws), queue.keys)
    batch = queue.claim(lease=30, size=100, flush=True, wait=0)
    assert batch is not None
    dead = [DeadEvent(raw, "refused", "rejected", 400) for raw in batch.events]
    assert queue.settle(batch, Settlement(dead=dead))


def stored(queue: ProviderQueue) -> list[str]:
    return sorted(json.loads(d["event"])["event_id"] for d in queue.dead_letters())


def test_a_dead_letter_write_trims_the_letters_older_than_dead_ttl(
    redis_client: redis.Redis,
) -> None:
    queue = ProviderQueue(redis_client, Scripts(), Keys("graspil"), dead_ttl=TTL)
    kill(queue, "old-1", "old-2")
    age_dead_letters(redis_client, queue.keys, TTL - DAY)
    kill(queue, "recent")  # the others are 29 days old: kept
    assert stored(queue) == ["old-1", "old-2", "recent"]
    age_dead_letters(redis_client, queue.keys, 2 * DAY)  # 31 days, and 2 for "recent"
    kill(queue, "new")
    assert stored(queue) == ["new", "recent"]
    counts = queue.counts()
    assert counts["dead_aged"] == 2 and counts["dead"] == 4 and counts["dead_trimmed"] == 0


def test_the_tick_trims_an_idle_provider_s_old_letters_once_a_minute(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    providers = {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]}
    settings = load_settings(
        {
            "redis": {"url": redis_url},
            "delivery": {"dead_ttl": TTL},
            "producer": {"spool_dir": str(tmp_path / "spool")},
            "providers": providers,
        },
        environ={},
    )
    ticker = WorkerProcess(settings, lambda p, flush: None)
    queue = ticker.deliverers["graspil"].queue
    kill(queue, "a", "b")
    ticker.ticker.retention(now=0.0)
    assert stored(queue) == ["a", "b"]  # younger than dead_ttl
    age_dead_letters(redis_client, queue.keys, TTL + 1)
    ticker.ticker.retention(now=RETENTION_EVERY / 2)  # not yet: once a minute at most
    assert stored(queue) == ["a", "b"]
    ticker.tick()  # no letter written since: the tick alone removes them
    assert stored(queue) == []
    assert collect(settings, redis_client).providers["graspil"].dead_aged == 2


def quarantine_file(spool: Path, day: str, age: float) -> Path:
    folder = spool / QUARANTINE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"quarantine-{day}.jsonl"
    path.write_text('{"file":"spool-1-1.jsonl","line":3,"raw":"{not json"}\n')
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_the_tick_removes_quarantine_files_older_than_quarantine_ttl(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    settings = load_settings(
        {
            "redis": {"url": redis_url},
            "producer": {"spool_dir": str(spool), "quarantine_ttl": 7 * DAY},
            "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
        },
        environ={},
    )
    old = quarantine_file(spool, "2024-01-01", 8 * DAY)
    kept = quarantine_file(spool, "2024-01-03", 6 * DAY)
    WorkerProcess(settings, lambda p, flush: None).tick()
    assert not old.exists() and kept.exists()
    assert Quarantine(spool / QUARANTINE_DIR).count() == 1


def test_spool_drain_removes_quarantine_files_older_than_quarantine_ttl(
    redis_url: str, tmp_path: Path
) -> None:
    env = offline_env(redis_url, tmp_path)  # producer.spool_dir = tmp_path / "spool"
    spool = tmp_path / "spool"
    old = quarantine_file(spool, "2024-01-01", 31 * DAY)
    legacy = spool / QUARANTINE_DIR / "quarantine.jsonl"  # an older version's single file
    legacy.write_text("{}\n")
    os.utime(legacy, (time.time() - 40 * DAY,) * 2)
    kept = quarantine_file(spool, "2024-01-30", 29 * DAY)
    assert cli(env, "spool", "count").stdout.strip() == "0 spooled; 3 line(s) in quarantine"
    drained = cli(env, "spool", "drain")
    assert drained.returncode == 0, drained.stderr
    assert drained.stdout.splitlines()[1] == (
        "2 quarantine file(s) older than producer.quarantine_ttl removed"
    )
    assert not old.exists() and not legacy.exists() and kept.exists()
