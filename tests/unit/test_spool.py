"""The local spool: fsync'd JSON lines, drained in bounded chunks, nothing lost on failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracking_worker.errors import TrackingUnavailable
from tracking_worker.events import Event, Normalized
from tracking_worker.spool import Spool


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
    assert spool.drain(got.extend, limit=100) == 5
    assert got == items(5)
    assert not spool.has_events() and spool.count() == 0


def test_drains_in_bounded_chunks_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(250))
    chunks: list[int] = []
    assert spool.drain(lambda part: chunks.append(len(part)), limit=120, chunk=50) == 120
    assert chunks == [50, 50, 20]
    assert spool.count() == 130


def test_a_failing_enqueue_loses_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(30))
    calls: list[int] = []

    def flaky(part: list[Normalized]) -> None:
        calls.append(len(part))
        if len(calls) == 2:
            raise TrackingUnavailable("down")

    with pytest.raises(TrackingUnavailable):
        spool.drain(flaky, limit=100, chunk=10)
    assert spool.count() == 20  # the first chunk went through, the rest is back in the spool
    rest: list[Normalized] = []
    spool.drain(rest.extend, limit=100)
    assert [i.event.event_id for i in rest] == [f"id-{i}" for i in range(10, 30)]


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(3))
    [path] = list(tmp_path.iterdir())
    dead_pid = 2**22 + 12345  # above pid_max defaults: no such process
    path.rename(tmp_path / f"spool-1.abcd1234-{dead_pid}.draining")
    live = tmp_path / f"spool-2.abcd1234-{os.getpid()}.draining"
    live.write_text("")  # claimed by a live process (this one): left alone
    got: list[Normalized] = []
    assert spool.drain(got.extend, limit=100) == 3
    assert live.exists()


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(items(2))
    [path] = list(tmp_path.iterdir())
    with path.open("a") as handle:
        handle.write('{"event": {"event_id": "x"')
    got: list[Normalized] = []
    assert spool.drain(got.extend, limit=100) == 2
