"""The local spool: fsync'd JSON lines in small files, drained a file at a time, nothing lost."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
from pathlib import Path

import pytest

from tracking_worker.errors import TrackingUnavailable
from tracking_worker.events import Event, Normalized
from tracking_worker.producer.spool import Spool


def items(count: int, start: int = 0) -> list[Normalized]:
    return [
        Normalized(
            Event(f"id-{i}", "purchase", "2024-01-01T00:00:00.000+00:00", telegram_id=i + 1),
            ("graspil",) if i % 2 else (),
            caller_id=bool(i % 3 == 0),
        )
        for i in range(start, start + count)
    ]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(5))
    assert spool.count() == 5 and spool.has_events()
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 5
    assert got == items(5)
    assert not spool.has_events() and spool.count() == 0


def test_drains_in_bounded_chunks_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path)  # files of 100 events: 100, 100, 50
    spool.append(items(250))
    chunks: list[int] = []
    assert spool.drain(lambda part: chunks.append(len(part)), files=2, chunk=40) == 200
    assert chunks == [40, 40, 20, 40, 40, 20]
    assert spool.count() == 50


def test_a_failing_enqueue_loses_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(30))
    calls: list[int] = []

    def flaky(part: list[Normalized]) -> None:
        calls.append(len(part))
        if len(calls) == 2:
            raise TrackingUnavailable("down")

    with pytest.raises(TrackingUnavailable):
        spool.drain(flaky, chunk=10)
    assert spool.count() == 20  # the first chunk went through, the rest is back in the spool
    rest: list[Normalized] = []
    spool.drain(rest.extend)
    assert [i.event.event_id for i in rest] == [f"id-{i}" for i in range(10, 30)]


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(3))
    [path] = list(tmp_path.iterdir())
    dead_pid = 2**22 + 12345  # above pid_max defaults: no such process
    path.rename(tmp_path / f"spool-1-1.abcd1234-{dead_pid}.draining")
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 3
    assert list(tmp_path.iterdir()) == []


def test_a_line_cut_short_by_a_crash_is_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(2))
    [path] = list(tmp_path.iterdir())
    with path.open("a") as handle:
        handle.write('{"event": {"event_id": "x"')  # the last line, with no newline
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 2
    assert got == items(2)
    [quarantined] = Spool(tmp_path).quarantine.files()
    [line] = quarantined.read_text().splitlines()
    record = json.loads(line)
    assert record["file"] == path.name and record["line"] == 3
    assert record["raw"] == '{"event": {"event_id": "x"' and record["reason"].startswith("not JSON")
    assert spool.quarantined() == 1 and spool.quarantined_now == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quarantine"]


def test_an_append_cut_short_by_a_full_disk_leaves_no_half_line(tmp_path: Path) -> None:
    """A short write used to pass for a whole one: track() succeeded, its event was lost, and
    the next append ran into the half line. Now the append fails and takes its bytes back."""
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            spool = Spool(tmp_path)
            spool.append(items(1))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write past the limit fails
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            size = next(tmp_path.iterdir()).stat().st_size
            resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, hard))  # room for 40 bytes
            try:
                spool.append(items(2, start=1))
            except OSError:
                code = 0  # the caller is told: track() raises TrackingUnavailable
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
            spool.append(items(1, start=3))
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    got: list[Normalized] = []
    spool = Spool(tmp_path)
    assert spool.drain(got.extend) == 2
    assert ids(got) == ["id-0", "id-3"]
    assert spool.quarantined() == 0


def lines_per_file(directory: Path) -> dict[str, int]:
    return {p.name: len(p.read_bytes().splitlines()) for p in sorted(directory.iterdir())}


def snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Name -> (inode, size, mtime): any write, rewrite or replacement changes it."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.iterdir()
    }


def ids(got: list[Normalized]) -> list[str]:
    return [item.event.event_id for item in got]


def test_files_rotate_at_max_lines_within_and_across_appends(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_lines=100)
    spool.append(items(250))
    for n in range(7):
        spool.append(items(30, start=250 + 30 * n))
    pid = os.getpid()
    assert lines_per_file(tmp_path) == {
        f"spool-{pid}-1.jsonl": 100,
        f"spool-{pid}-2.jsonl": 100,
        f"spool-{pid}-3.jsonl": 100,  # 50 from the first append, 50 from the next two
        f"spool-{pid}-4.jsonl": 100,
        f"spool-{pid}-5.jsonl": 60,
    }
    assert spool.count() == 460


def test_a_file_claimed_by_a_drainer_is_not_appended_to_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(3))
    [path] = list(tmp_path.iterdir())
    path.rename(tmp_path / f"{path.stem}.abcd1234-{os.getpid()}.draining")  # what _claim does
    spool.append(items(2, start=3))
    assert sorted(lines_per_file(tmp_path).values()) == [2, 3]
    assert Spool(tmp_path).count() == 5


def test_a_drain_step_moves_one_file_whatever_the_spool_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(10_000))
    before = snapshot(tmp_path)
    oldest = min(before, key=lambda name: (before[name][2], name))
    assert len(before) == 100
    chunks: list[int] = []
    assert spool.drain(lambda part: chunks.append(len(part)), files=1, chunk=100) == 100
    assert chunks == [100]
    after = snapshot(tmp_path)
    assert after == {name: stat for name, stat in before.items() if name != oldest}
    assert spool.count() == 9_900


def test_a_failure_part_way_writes_back_the_rest_of_that_file_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(300))  # three files of 100
    before = snapshot(tmp_path)
    first = min(before, key=lambda name: (before[name][2], name))
    sent: list[Normalized] = []

    def fails_third_chunk(part: list[Normalized]) -> None:
        if len(sent) == 50:
            raise TrackingUnavailable("down")
        sent.extend(part)

    with pytest.raises(TrackingUnavailable):
        spool.drain(fails_third_chunk, chunk=25)
    after = snapshot(tmp_path)
    untouched = {name: stat for name, stat in before.items() if name != first}
    assert {name: after[name] for name in untouched} == untouched
    [rest] = set(after) - set(untouched)
    assert lines_per_file(tmp_path)[rest] == 50
    assert after[rest][2] == before[first][2]  # keeps its place: drained first next time
    spool.drain(sent.extend)
    assert ids(sent) == [f"id-{i}" for i in range(300)]  # nothing lost, nothing twice
    assert list(tmp_path.iterdir()) == []


def test_a_stale_claim_is_taken_over_under_its_original_name(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(150))
    dead_pid = 2**22 + 12345  # above pid_max defaults: no such process
    stale = tmp_path / f"spool-77-3.abcd1234-{dead_pid}.draining"
    (tmp_path / f"spool-{os.getpid()}-1.jsonl").rename(stale)
    os.utime(stale, ns=(0, 0))  # the oldest file: taken first
    seen: list[list[str]] = []

    def record(part: list[Normalized]) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))

    assert spool.drain(record, files=1) == 100
    [claimed] = [n for n in seen[0] if n.endswith(".draining")]
    assert re.fullmatch(rf"spool-77-3\.[0-9a-f]{{8}}-{os.getpid()}\.draining", claimed)
    assert spool.count() == 50


def test_a_full_drain_takes_every_file_and_what_was_spooled_meanwhile(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(1_050))
    got: list[Normalized] = []

    def enqueue(part: list[Normalized]) -> None:
        if len(got) == 500:
            spool.append(items(20, start=1_050))  # a web request spooling during the drain
        got.extend(part)

    assert spool.drain(enqueue, chunk=100) == 1_070
    assert sorted(ids(got)) == sorted(f"id-{i}" for i in range(1_070))
    assert not spool.has_events() and list(tmp_path.iterdir()) == []


def test_a_large_file_from_before_rotation_is_split_not_drained_whole(tmp_path: Path) -> None:
    Spool(tmp_path / "old", max_lines=1_000).append(items(250))
    [old] = list((tmp_path / "old").iterdir())
    directory = tmp_path / "spool"
    directory.mkdir()
    old.rename(directory / "spool-4242.jsonl")  # one file per process, as it used to be
    spool = Spool(directory, max_lines=100)
    got: list[Normalized] = []
    assert spool.drain(got.extend, files=1) == 100
    assert sorted(lines_per_file(directory).values()) == [50, 100]
    spool.drain(got.extend)
    assert ids(got) == [f"id-{i}" for i in range(250)]


def test_a_forked_child_appends_to_files_of_its_own(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(10))
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            spool.append(items(5, start=10))
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    spool.append(items(5, start=15))
    assert lines_per_file(tmp_path) == {
        f"spool-{os.getpid()}-1.jsonl": 15,
        f"spool-{child}-1.jsonl": 5,
    }


def test_two_spools_of_one_process_never_share_a_file(tmp_path: Path) -> None:
    one, two = Spool(tmp_path, max_lines=10), Spool(tmp_path, max_lines=10)
    for n in range(6):
        (one if n % 2 else two).append(items(4, start=4 * n))
    assert sorted(lines_per_file(tmp_path).values()) == [2, 2, 10, 10]  # 12 each
    assert one.count() == 24


def test_drain_steps_share_one_listing_and_skip_files_another_drainer_took(
    tmp_path: Path,
) -> None:
    web, cli = Spool(tmp_path), Spool(tmp_path)
    web.append(items(300))  # files 1, 2, 3 of this process
    got: list[Normalized] = []
    assert web.drain(got.extend, files=1) == 100  # lists the directory, takes file 1
    assert cli.drain(got.extend, files=1) == 100  # another drainer takes file 2 meanwhile
    web.append(items(50, start=300))  # file 4, not in web's listing yet
    assert web.drain(got.extend, files=1) == 100  # file 2 gone: file 3
    assert web.drain(got.extend, files=1) == 50  # listing used up: lists again, file 4
    assert web.drain(got.extend, files=1) == 0
    assert ids(got) == [f"id-{i}" for i in range(350)]
