"""`tracking-worker import` can be run again and counts exactly: a line without an event id
gets one from the file's bytes and its line number, so a second run of a file (after a kill,
Ctrl-C) enqueues only what the first did not; the summary tells enqueued, already present and
invalid apart. No worker runs here: what an import did is what the pending lists hold."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from tests.ops.support import ALL, cli, event, finish, offline_env, start_cli
from tracking_worker.keys import Keys


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return offline_env(redis_url, tmp_path)


def write_events(path: Path, numbers: range, *, bom: bool = False) -> Path:
    text = "".join(json.dumps(event(n)) + "\n" for n in numbers)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def pending(client: redis.Redis, provider: str = "graspil") -> int:
    return int(client.llen(Keys(provider).pending))


def pending_ids(client: redis.Redis, provider: str) -> list[str]:
    return [json.loads(raw)["event_id"] for raw in client.lrange(Keys(provider).pending, 0, -1)]


def test_an_import_killed_midway_and_run_again_enqueues_each_line_once(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    lines = 20_000
    path = write_events(tmp_path / "backfill.jsonl", range(1, lines + 1))
    process = start_cli(env, "import", str(path), "--rate", "4000")
    wait_for(lambda: pending(redis_client) >= 4000, 30, message="the import enqueues")
    os.killpg(process.pid, signal.SIGKILL)
    finish(process, 10)
    before = pending(redis_client)
    assert 4000 <= before < lines

    again = cli(env, "import", str(path), timeout=60)
    assert again.returncode == 0, again.stderr
    for provider in ALL:
        ids = pending_ids(redis_client, provider)
        assert len(ids) == lines, provider
        assert len(set(ids)) == lines, provider  # each line once
    assert ids[0].endswith(":1") and ids[-1].endswith(f":{lines}")
    assert again.stdout.startswith(
        f"{lines - before} event(s) enqueued, {before} already present, 0 invalid line(s) "
        f"skipped, from {path}"
    )
    stats = redis_client.hget(Keys("graspil").stats, "deduplicated")
    assert stats == str(before).encode()


def test_ctrl_c_stops_an_import_between_chunks_and_prints_how_far_it_got(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    lines = 5000
    path = write_events(tmp_path / "backfill.jsonl", range(1, lines + 1))
    process = start_cli(env, "import", str(path), "--rate", "1000")
    wait_for(lambda: pending(redis_client) >= 1000, 30, message="the import enqueues")
    process.send_signal(signal.SIGINT)
    out, err = finish(process, 30)
    done = pending(redis_client)
    assert process.returncode == 130, err
    assert 1000 <= done < lines
    assert out.splitlines() == [
        f"{done} event(s) enqueued (0 already present) from lines 1-{done}; run the same "
        "command again to continue"
    ]
    assert all(pending(redis_client, p) == done for p in ALL)


def test_a_re_run_counts_what_was_there_apart_from_what_it_enqueues(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Two lines carry ids an earlier import (another file) enqueued; one line is invalid."""
    lines = [json.dumps({**event(n), "event_id": f"order-{n}"}) for n in (1, 2)]
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli(env, "import", str(earlier)).returncode == 0
    lines += [json.dumps(event(n)) for n in (3, 4, 5)] + ['{"name": ""}']
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = cli(env, "import", str(path), "--skip-invalid")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        f"3 event(s) enqueued, 2 already present, 1 invalid line(s) skipped, from {path}"
    )
    again = cli(env, "import", str(path), "--skip-invalid")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 event(s) enqueued, 5 already present, 1 invalid")
    assert all(pending(redis_client, p) == 5 for p in ALL)


def test_a_file_with_a_byte_order_mark_imports(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = write_events(tmp_path / "excel.jsonl", range(1, 4), bom=True)
    done = cli(env, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("3 event(s) enqueued, 0 already present, 0 invalid")
    assert all(pending(redis_client, p) == 3 for p in ALL)


def test_skip_invalid_fails_when_no_line_is_valid(
    env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"name": ""}\n{not json\n', encoding="utf-8")
    done = cli(env, "import", str(path), "--skip-invalid")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"tracking-worker: 2 invalid line(s) in {path}; nothing enqueued (no line is valid)"
    )
    assert all(pending(redis_client, p) == 0 for p in ALL)
