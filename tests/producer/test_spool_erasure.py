"""A person's lines leave this host's spool and quarantine files: rewritten under the lock
every appender and drainer takes, whole or not at all, the other lines as they were."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tracking_worker.errors import TrackingError
from tracking_worker.events import Event, Normalized
from tracking_worker.person import Person
from tracking_worker.producer import spool_erasure
from tracking_worker.producer.spool import Spool
from tracking_worker.producer.spool_erasure import FilesErased, erase_files
from tracking_worker.quarantine import Quarantine

ANN = Person.of(telegram_id=777, email="ÄNN@example.com")


def event(n: int, *, ann: bool = False) -> Normalized:
    """Every third of Ann's events carries only her e-mail (written as a spool line writes
    it: ``\\u`` escapes), the others her Telegram id."""
    telegram_id = 777 if ann and n % 3 else 1000 + n
    mail = "Änn@Example.com" if ann and not n % 3 else None
    return Normalized(
        Event(f"e{n}", "purchase", "2024-01-01T00:00:00.000+00:00", telegram_id, mail)
    )


def lines_of(folder: Path) -> list[bytes]:
    return [line for p in sorted(folder.glob("spool-*")) for line in p.read_bytes().splitlines()]


def event_id(line: bytes) -> str:
    return str(json.loads(line)["event"]["event_id"])


def test_the_person_s_lines_leave_every_spool_file_claimed_or_not(tmp_path: Path) -> None:
    ann = {f"e{n}" for n in range(0, 250, 5)} | {"e250", "e251", "e252"}
    Spool(tmp_path).append([event(n, ann=f"e{n}" in ann) for n in range(250)])  # 100, 100, 50
    Spool(tmp_path).append([event(n, ann=True) for n in range(250, 253)])  # a file of hers
    first = sorted(tmp_path.glob("spool-*"))[0]
    stale = first.rename(first.with_name(f"{first.stem}.abcd1234-999999.draining"))  # crashed
    files = {p.name: p.read_bytes().splitlines() for p in tmp_path.glob("spool-*")}
    hers = {name for name, lines in files.items() if all(event_id(x) in ann for x in lines)}
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("spool-*")}
    others = [line for line in lines_of(tmp_path) if event_id(line) not in ann]

    assert erase_files(tmp_path, ANN) == FilesErased(str(tmp_path), spool=53, quarantine=0)

    assert lines_of(tmp_path) == others  # the same bytes, in the same order
    kept = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("spool-*")}
    assert len(hers) == 1 and kept == {n: t for n, t in mtimes.items() if n not in hers}
    assert stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    drained: list[Normalized] = []
    Spool(tmp_path).drain(drained.extend)
    assert sorted(n.event.event_id for n in drained) == sorted(map(event_id, others))
    assert erase_files(tmp_path, ANN) == FilesErased(str(tmp_path))


def test_a_file_being_drained_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """forget waits for a drainer's lock, never rewrites under it; the drained file is gone by
    then and its events in Redis, where forget looks next."""
    Spool(tmp_path).append([event(1, ann=True), event(2)])
    enqueuing, release = threading.Event(), threading.Event()

    def slow_enqueue(part: list[Normalized]) -> None:
        enqueuing.set()
        release.wait(10)

    drain = threading.Thread(target=lambda: Spool(tmp_path).drain(slow_enqueue))
    drain.start()
    wait_for(enqueuing.is_set, 10)
    with monkeypatch.context() as short:
        short.setattr(spool_erasure, "LOCK_WAIT", 0.2)
        with pytest.raises(TrackingError, match="stayed locked"):
            erase_files(tmp_path, ANN)
    erased: list[FilesErased] = []
    forget = threading.Thread(target=lambda: erased.append(erase_files(tmp_path, ANN)))
    forget.start()
    release.set()
    drain.join(10)
    forget.join(10)
    assert erased == [FilesErased(str(tmp_path))] and lines_of(tmp_path) == []


def test_an_appender_goes_on_in_a_new_file_after_the_rewrite(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([event(1, ann=True), event(2)])
    assert erase_files(tmp_path, ANN).spool == 1
    spool.append([event(3)])  # the rewritten file is another inode: never appended to
    assert [json.loads(line)["event"]["event_id"] for line in lines_of(tmp_path)] == ["e2", "e3"]
    assert len(list(tmp_path.glob("spool-*"))) == 2


def test_quarantined_lines_of_the_person_go_whole_or_cut_short(tmp_path: Path) -> None:
    """A quarantined line keeps the start of the bad line: matched as an event when it parses,
    else by its text (``"telegram_id":777``, the e-mail in the line's own escapes)."""
    spool = Spool(tmp_path)
    spool.append([event(1, ann=True), event(3, ann=True), event(4)])
    [path] = tmp_path.glob("spool-*")
    whole = path.read_bytes().splitlines()
    cut = [line[: line.index(b',"providers"')] for line in whole]  # crashes mid-write
    path.write_bytes(b"\n".join(cut) + b"\n")
    assert spool.drain(lambda part: None) == 0
    assert spool.quarantined() == 3

    assert erase_files(tmp_path, ANN) == FilesErased(str(tmp_path), spool=0, quarantine=2)

    [today] = Quarantine(tmp_path / "quarantine").files()  # one file per UTC day
    [kept] = today.read_bytes().splitlines()
    assert b'\\"telegram_id\\":1004' in kept
    assert [p.name for p in (tmp_path / "quarantine").iterdir()] == [today.name]
