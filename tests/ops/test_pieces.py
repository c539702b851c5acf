"""The small rules the commands stand on, from tables: circuit states, time options, pacing,
e-mail masking, latency buckets; and dead-letter paging on a real stream longer than a page."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pytest
import redis

from tracking_worker.cli.common import Positive, Since, SinceType
from tracking_worker.devtools import demo_providers
from tracking_worker.keys import Keys
from tracking_worker.ops import importer
from tracking_worker.ops.pacing import Pacer
from tracking_worker.producer.tracker import Tracker
from tracking_worker.settings import build_settings
from tracking_worker.store.deadletters import PAGE, DeadFilter, DeadLetters
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.metrics import Latency, bucket_field, status_class
from tracking_worker.store.queue import Batch, DeadEvent, ProviderQueue, Settlement
from tracking_worker.store.status import circuit_state
from tracking_worker.worker.observability import mask_emails

NOW = 1_000.0


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({}, ("closed", None)),
        ({"state": "closed", "open_until": "0"}, ("closed", None)),
        ({"state": "open", "open_until": "1300"}, ("open", 1300.0)),
        ({"state": "closed", "open_until": "1030"}, ("open", 1030.0)),  # a 429's pause
        ({"state": "open", "open_until": "900"}, ("half-open", None)),  # the probe decides
        ({"state": "half", "open_until": "900", "probe_until": "1010"}, ("half-open", None)),
    ],
)
def test_circuit_state_as_the_breaker_means_it(
    stored: dict[str, str], expected: tuple[str, float | None]
) -> None:
    assert circuit_state(stored, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", Since(ago=90)),
        ("15m", Since(ago=900)),
        ("2h", Since(ago=7200)),
        ("1.5d", Since(ago=129600)),
        ("1700000000", Since(at=1_700_000_000)),
        ("2024-08-03T20:00:00+02:00", Since(at=1_722_708_000)),
    ],
)
def test_since_accepts_ages_times_and_unix_seconds(text: str, expected: Since) -> None:
    assert SinceType().convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["yesterday", "-5", "nan", "5y", ""])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(click.BadParameter):
        SinceType().convert(text, None, None)


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "x", "1.5"])
def test_positive_integers_only(text: str) -> None:
    with pytest.raises(click.BadParameter):
        Positive(int).convert(text, None, None)


def test_pacer_holds_to_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(100.0, clock=lambda: now[0], sleep=sleep)
    assert pacer.chunk(1000) == 100
    pacer.wait(100)
    pacer.wait(250)
    assert slept == [1.0, 1.5]
    assert Pacer(None).chunk(1000) == 1000 and Pacer(0.5).chunk(1000) == 1


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("user ann@example.com not found", "user a***@example.com not found"),
        ('{"email":"b.o+b@mail.example.org"}', '{"email":"b***@mail.example.org"}'),
        ("no address @ all", "no address @ all"),
        ("x@y", "x@y"),
    ],
)
def test_emails_keep_a_letter_and_the_domain(text: str, masked: str) -> None:
    assert mask_emails(text) == masked


def test_latency_buckets_are_cumulative() -> None:
    assert bucket_field(0.005) == "le:0.005" and bucket_field(31) == "le:+Inf"
    assert [status_class(s) for s in (200, 204, 301, 429, 503, None, 999)] == [
        "2xx", "2xx", "3xx", "4xx", "5xx", "error", "error",
    ]  # fmt: skip
    decoded = Latency.from_hash(
        {b"le:0.01": b"2", b"le:0.5": b"1", b"le:+Inf": b"1", b"count": b"4", b"sum_us": b"9"}
    )
    assert decoded.cumulative[:8] == (0, 2, 2, 2, 2, 2, 3, 3) and decoded.cumulative[-1] == 3
    assert decoded.count == 4 and decoded.sum_seconds == 0.000009
    assert decoded.quantile(0.5) == 0.01 and Latency().quantile(0.5) is None


def test_dead_letters_page_through_a_long_stream(redis_url: str, redis_client: redis.Redis) -> None:
    """Written by settle.lua as the worker writes them; more than two pages' worth."""
    settings = build_settings(
        {"redis": {"url": redis_url}, "providers": demo_providers("http://127.0.0.1:9")}
    )
    keys = Keys("graspil")
    queue = ProviderQueue(redis_client, Scripts(), keys)
    total = 2 * PAGE + 100
    for start in range(0, total, 100):
        dead = [
            DeadEvent(
                json.dumps({"event_id": f"e{n}", "name": "purchase", "telegram_id": n + 1}),
                f"{'user not found' if n % 3 == 0 else 'bad value'} #{n}",
                "rejected",
                400,
            )
            for n in range(start, start + 100)
        ]
        redis_client.hset(keys.batch(f"b{start}"), mapping={"token": "t"})
        assert queue.settle(Batch(f"b{start}", "t", [], 0, ""), Settlement(dead=dead))
    letters = DeadLetters(settings, redis_client, "graspil")
    newest = letters.list(total + 10)
    assert [e["event"]["event_id"] for e in newest] == [f"e{n}" for n in reversed(range(total))]
    found = letters.list(total, DeadFilter(reason="NOT FOUND"))
    assert len(found) == len(range(0, total, 3)) and found[0]["event"]["event_id"] == "e1098"
    middle = newest[PAGE]["id"]
    since_ms = int(middle.partition("-")[0])
    later = list(letters.scan(DeadFilter(since_ms=since_ms)))
    assert all(entry_id >= f"{since_ms}-0" for entry_id, _ in later)
    assert len(later) >= PAGE

    dry = letters.replay(flt=DeadFilter(reason="not found"), dry_run=True)
    assert (dry.matched, dry.moved, redis_client.xlen(keys.dead)) == (367, 367, total)
    done = letters.replay(flt=DeadFilter(reason="not found"), chunk=50, now=time.time())
    assert (done.matched, done.moved, done.malformed) == (367, 367, 0)
    pending = [json.loads(raw)["event_id"] for raw in redis_client.lrange(keys.pending, 0, -1)]
    assert pending == [f"e{n}" for n in range(0, total, 3)]  # oldest first, same ids
    assert letters.purge(limit=10) == 10
    assert redis_client.xlen(keys.dead) == total - 367 - 10
    assert redis_client.hget(keys.stats, "purged") == b"10"


def test_import_validation_is_the_same_in_one_process_or_several(tmp_path: Path) -> None:
    """Forked workers see the same lines, report the same errors and keep the file's order."""
    settings = build_settings(
        {
            "producer": {"spool_dir": str(tmp_path / "spool")},
            "providers": demo_providers("http://127.0.0.1:9"),
        }
    )
    lines = [
        json.dumps({"name": "purchase", "telegram_id": n, "event_id": f"e{n}"})
        for n in range(1, 2600)
    ]
    lines[1200] = "{broken"
    lines[2400] = json.dumps({"name": "purchase", "value": 3})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    tracker = Tracker(settings)
    try:
        serial = importer.validate(tracker, path, workers=1)
        forked = importer.validate(tracker, path, workers=2)
    finally:
        tracker.close()
    assert serial is not None and forked is not None
    for result in (serial, forked):
        assert [str(e) for e in result.errors] == [
            "line 1201: line: Not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1).",
            "line 2401: currency: Required when value is given.",
        ]
        assert len(result.events) == len(result.lines) == 2597
    assert [e.event.event_id for e in forked.events] == [e.event.event_id for e in serial.events]
    assert forked.lines == serial.lines and serial.lines[1200] == 1202


def test_an_imported_event_is_present_when_every_provider_it_goes_to_had_it(
    tmp_path: Path,
) -> None:
    """Redis answers a count per provider: lines 1-2 were enqueued by an earlier run, line 2
    for graspil alone, so graspil had 2 and every other provider 1 (line 1). Line 1 counts as
    present only while every provider answered; a provider that failed had nothing."""
    settings = build_settings(
        {
            "producer": {"spool_dir": str(tmp_path / "spool")},
            "providers": demo_providers("http://127.0.0.1:9"),
        }
    )
    tracker = Tracker(settings)
    identities = {"telegram_id": 5, "email": "a@example.test", "visitor_id": "v-5"}
    alone = {"providers": ["graspil"]}
    chunk = tracker.producer.validate(
        [
            {"name": "purchase", "event_id": f"e{n}", **identities, **(alone if n % 2 else {})}
            for n in (0, 1, 2, 3)
        ]
    )
    tracker.close()
    routes = tracker.producer.plan(chunk).routes
    other = [name for name, route in routes.items() if name != "graspil" and route.events]
    assert other
    everyone = {name: 1 for name in routes} | {"graspil": 2}
    assert importer._present(chunk, routes, everyone) == 2
    assert importer._present(chunk, routes, everyone | {other[0]: 0}) == 1
    assert importer._present(chunk, routes, {}) == 0
