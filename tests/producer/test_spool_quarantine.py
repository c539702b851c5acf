"""A spool line without an event goes to quarantine; the good lines around it go to Redis."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.producer.test_spool import items
from tracking_worker.errors import TrackingUnavailable
from tracking_worker.events import Event, Normalized
from tracking_worker.producer.spool import Enqueue, Spool

EVENT: dict[str, Any] = {
    "event_id": "hand",
    "name": "purchase",
    "occurred_at": "2024-01-01T00:00:00.000+00:00",
}


def hand_written(event: Any = EVENT, **top: Any) -> bytes:
    """A spool line as ``Spool.append`` writes it, with ``top`` replacing its keys."""
    data = {"event": event, "providers": [], "caller_id": False, **top}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def with_event(**changes: Any) -> bytes:
    return hand_written({k: v for k, v in {**EVENT, **changes}.items() if v is not ...})


def write_raw(directory: Path, *lines: bytes) -> Path:
    """Append lines to the one spool file, as a crash or a bug might have left them."""
    [path] = [p for p in directory.iterdir() if p.is_file()]
    with path.open("ab") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


def spool_with(directory: Path, *lines: bytes, before: int = 2, after: int = 2) -> Spool:
    """One spool file: ``before`` good events, ``lines``, then ``after`` good events."""
    spool = Spool(directory)
    spool.append(items(before))
    write_raw(directory, *lines)
    spool.append(items(after, start=before))  # still the same file
    return spool


def quarantine(directory: Path) -> list[dict[str, Any]]:
    [path] = Spool(directory).quarantine.files()  # today's
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def like_the_producer(sink: list[Normalized]) -> Enqueue:
    """An enqueue that encodes every event as the Producer does before Redis sees it."""

    def enqueue(part: list[Normalized]) -> None:
        for item in part:
            item.event.to_json()  # raises on NaN, as Producer._route would
        sink.extend(part)

    return enqueue


def test_a_line_nested_too_deep_is_quarantined_and_the_ten_good_lines_around_it_enqueued(
    tmp_path: Path,
) -> None:
    spool = spool_with(tmp_path, b"[" * 100_000, before=5, after=5)
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 10
    assert got == items(10)
    [record] = quarantine(tmp_path)
    assert record["file"] == f"spool-{os.getpid()}-1.jsonl" and record["line"] == 6
    assert record["reason"] == "nested too deeply to parse"
    assert record["bytes"] == 100_000 and record["raw"] == "[" * 4096  # bounded
    assert spool.quarantined() == 1 and spool.quarantined_now == 1
    assert not spool.has_events() and spool.count() == 0


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_a_non_finite_number_is_quarantined_and_later_drains_still_work(
    tmp_path: Path, number: bytes
) -> None:
    bad = with_event(properties={"score": "N"}).replace(b'"N"', number)
    spool = spool_with(tmp_path, bad)
    got: list[Normalized] = []
    assert spool.drain(like_the_producer(got)) == 4
    [record] = quarantine(tmp_path)
    assert record["line"] == 3 and record["raw"] == bad.decode()
    spool.append(items(2, start=4))
    assert spool.drain(like_the_producer(got)) == 2  # nothing wedged
    assert got == items(6)
    assert spool.quarantined() == 1 and sorted(os.listdir(tmp_path)) == ["quarantine"]


def test_a_hand_written_line_of_the_right_shape_is_enqueued(tmp_path: Path) -> None:
    """The control for the cases below: each differs from this line in one thing only."""
    spool = spool_with(tmp_path, hand_written())
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 5
    assert got[2] == Normalized(Event(**EVENT))
    assert spool.quarantined() == 0


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"{not json", id="not JSON"),
        pytest.param(hand_written() + b" {}", id="trailing data"),
        pytest.param(b'{"event": "\xff"}', id="not UTF-8"),
        pytest.param(b"", id="blank"),
        pytest.param(b"[]", id="a list"),
        pytest.param(b"{}", id="no keys"),
        pytest.param(hand_written(caller_id=...), id="no caller_id"),
        pytest.param(hand_written(providers="graspil"), id="providers a string"),
        pytest.param(hand_written(providers=[1]), id="providers not strings"),
        pytest.param(hand_written(caller_id="yes"), id="caller_id a string"),
        pytest.param(hand_written([1]), id="event a list"),
        pytest.param(with_event(name=...), id="event without a name"),
        pytest.param(with_event(colour="red"), id="event with an unknown field"),
        pytest.param(with_event(name=None), id="event name null"),
        pytest.param(with_event(event_id=5), id="event_id a number"),
        pytest.param(with_event(telegram_id="12"), id="telegram_id a string"),
        pytest.param(with_event(telegram_id=True), id="telegram_id a boolean"),
        pytest.param(with_event(session_id=7), id="session_id a number"),
        pytest.param(with_event(properties=[]), id="properties a list"),
    ],
)
def test_a_line_of_the_wrong_shape_is_quarantined_and_its_neighbours_enqueued(
    tmp_path: Path, bad: bytes
) -> None:
    spool = spool_with(tmp_path, bad)
    got: list[Normalized] = []
    assert spool.drain(like_the_producer(got)) == 4
    assert got == items(4)
    [record] = quarantine(tmp_path)
    assert record["line"] == 3 and record["raw"] == bad.decode("utf-8", "replace")
    assert record["bytes"] == len(bad) and record["reason"]
    assert spool.quarantined() == 1 and spool.quarantined_now == 1


def test_the_quarantine_is_never_read_back_as_spool_input(tmp_path: Path) -> None:
    spool = spool_with(tmp_path, b"{not json")
    got: list[Normalized] = []
    assert spool.drain(got.extend) == 4
    [path] = spool.quarantine.files()
    kept = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds event data
    assert not spool.has_events() and spool.count() == 0
    assert spool.drain(got.extend) == 0 and len(got) == 4
    assert path.read_bytes() == kept
    cli = Spool(tmp_path)  # another process, e.g. ``tracking-worker spool count``
    assert cli.quarantined() == 1 and cli.quarantined_now == 0
    spool.append(items(1))
    write_raw(tmp_path, b"[]")
    assert cli.drain(got.extend) == 1
    assert cli.quarantined() == 2 and cli.quarantined_now == 1 and spool.quarantined_now == 1


def test_a_failure_part_way_quarantines_each_bad_line_once_and_loses_no_good_one(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    spool.append(items(4))
    write_raw(tmp_path, b"[" * 100_000)  # line 5: read with the first chunk
    spool.append(items(20, start=4))
    write_raw(tmp_path, b"{}")  # line 26: in the part that is written back
    spool.append(items(4, start=24))
    got: list[Normalized] = []

    def fails_second_chunk(part: list[Normalized]) -> None:
        if len(got) == 10:
            raise TrackingUnavailable("down")
        got.extend(part)

    with pytest.raises(TrackingUnavailable):
        spool.drain(fails_second_chunk, chunk=10)
    assert [r["line"] for r in quarantine(tmp_path)] == [5]
    assert spool.count() == 19  # 18 events and the bad line, back in the spool as they were
    assert spool.drain(got.extend) == 18
    assert got == items(28)  # nothing lost, nothing twice, in order
    assert [r["raw"][:2] for r in quarantine(tmp_path)] == ["[[", "{}"]
    assert spool.quarantined() == 2 and spool.quarantined_now == 2


def test_bad_lines_count_toward_what_one_drain_step_reads(tmp_path: Path) -> None:
    """A file of garbage costs a drain step ``max_lines`` lines, no more, like good ones."""
    spool = Spool(tmp_path, max_lines=10)
    spool.append(items(1))
    write_raw(tmp_path, *[b"{}"] * 12)
    spool.append(items(2, start=1))  # 15 lines, as a file from before rotation might hold
    got: list[Normalized] = []
    assert spool.drain(got.extend, files=1) == 1  # lines 1-10: one event, nine bad ones
    assert spool.quarantined() == 9
    assert spool.drain(got.extend, files=1) == 2  # the other 5 lines, written back as they were
    assert got == items(3) and spool.quarantined() == 12
