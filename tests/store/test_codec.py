"""The codec and the Lua scripts agree on every argument layout, and each layout reads back
what it writes: from the Python values it builds and from the text Lua receives."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking_worker.keys import Keys
from tracking_worker.store import codec
from tracking_worker.store.intake import Limits, Route, call_args
from tracking_worker.store.lua_scripts import NAMES

LUA = resources.files("tracking_worker.store") / "lua"
#: Shared code put before scripts, not a script of its own.
LIBRARIES = {"receipts_lib", "forget_lib", "dead_lib"}
#: A header local naming script arguments: ``local a, b = ARGV[1], tonumber(ARGV[2])``.
NAMED = re.compile(r"^local ([\w, ]+) = (.*(KEYS|ARGV)\[\d+\].*)$")

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    str: TEXT,
    int: st.integers(-(2**53), 2**53),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
}
PAIRS = st.lists(st.tuples(TEXT, TEXT)).map(lambda ps: tuple(x for p in ps for x in p))
#: enqueue's events: (id key, caller id, serialized event, people).
QUADRUPLES = st.lists(st.tuples(st.binary(min_size=8, max_size=8), TEXT, TEXT, st.binary())).map(
    lambda ts: tuple(x for t in ts for x in t)
)


def wire(args: list[codec.Arg]) -> list[bytes]:
    """``args`` as redis-py sends them and Lua receives them (numbers as their repr)."""
    assert not any(isinstance(a, bool) for a in args)  # redis-py refuses booleans
    return [
        a if isinstance(a, bytes) else (a if isinstance(a, str) else repr(a)).encode() for a in args
    ]


def named_locals(script: str, table: str) -> list[tuple[str, int]]:
    """The (name, index) pairs of the script's ``local ... = <table>[n]`` lines, in order."""
    found: list[tuple[str, int]] = []
    for line in (LUA / f"{script}.lua").read_text(encoding="utf-8").splitlines():
        match = NAMED.match(line)
        if match and match.group(3) == table:
            names = [n.strip() for n in match.group(1).split(",")]
            indices = [int(i) for i in re.findall(rf"{table}\[(\d+)\]", match.group(2))]
            assert len(names) == len(indices), line
            found += zip(names, indices, strict=True)
    return found


def fixed_strategy(cls: type[codec.Layout]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(typing.cast(Any, cls))
    named = (f.name for f in fields if f.name not in cls.TAIL)
    return st.builds(cls, **{name: BY_TYPE[hints[name]] for name in named})


def check_round_trip(call: codec.Layout) -> None:
    args = call.args()
    layout = type(call)
    assert layout.parse(args) == call
    assert layout.parse(wire(args)) == call
    assert layout.parse(args).args() == args


def test_every_script_has_a_layout() -> None:
    scripts = {p.name.removesuffix(".lua") for p in LUA.iterdir() if p.name.endswith(".lua")}
    assert set(codec.LAYOUTS) == set(NAMES) == scripts - LIBRARIES
    assert all(name == layout.SCRIPT for name, layout in codec.LAYOUTS.items())


@pytest.mark.parametrize("name", sorted(codec.LAYOUTS))
def test_lua_names_its_arguments_as_the_codec_does(name: str) -> None:
    layout = codec.LAYOUTS[name]
    argv = named_locals(name, "ARGV")
    assert [n for n, _ in argv] == list(layout.named())
    assert [i for _, i in argv] == list(range(1, len(argv) + 1))
    assert [i for _, i in named_locals(name, "KEYS")] == list(range(1, len(layout.KEYS) + 1))


@pytest.mark.parametrize("name", sorted(codec.LAYOUTS))
def test_lua_reads_fixed_arguments_only_through_its_named_locals(name: str) -> None:
    source = (LUA / f"{name}.lua").read_text(encoding="utf-8")
    header = "\n".join(line for line in source.splitlines() if line.startswith("--"))
    body = [line for line in source.splitlines() if not line.startswith("--")]
    assert not [
        line for line in body if re.search(r"(KEYS|ARGV)\[\d", line) and not NAMED.match(line)
    ]
    assert all(field in header for field in codec.LAYOUTS[name].named())


@pytest.mark.parametrize("name", sorted(n for n, c in codec.LAYOUTS.items() if not c.TAIL))
def test_a_fixed_layout_reads_back_what_it_writes(name: str) -> None:
    @given(fixed_strategy(codec.LAYOUTS[name]))
    def round_trip(call: codec.Layout) -> None:
        check_round_trip(call)

    round_trip()


@given(
    st.builds(
        codec.Enqueue,
        max_pending=BY_TYPE[int],
        claim_size=BY_TYPE[int],
        trigger_ttl_ms=BY_TYPE[int],
        skipped=BY_TYPE[int],
        dedupe_ttl=BY_TYPE[float],
        window=BY_TYPE[float],
        check=BY_TYPE[bool],
        skips=BY_TYPE[str],
        events=QUADRUPLES,
    )
)
def test_enqueue_reads_back_its_event_quadruples(call: codec.Enqueue) -> None:
    check_round_trip(call)


@given(
    st.builds(
        codec.Replay,
        receipts_ttl=BY_TYPE[float],
        receipt_bucket=BY_TYPE[int],
        receipts_prefix=TEXT,
        moves=PAIRS,
    )
)
def test_replay_reads_back_its_moves(call: codec.Replay) -> None:
    check_round_trip(call)


DEAD = st.builds(
    codec.DeadEntry,
    event=TEXT,
    reason=TEXT,
    status=st.none() | st.integers(100, 599),
    excerpt=TEXT,
    attempts=st.integers(1, 100),
    kind=TEXT,
)
HISTOGRAM = st.lists(st.tuples(TEXT, st.integers(0, 10**9))).map(
    lambda ps: tuple(x for p in ps for x in p)
)


@given(
    fixed_strategy(codec.Settle),
    HISTOGRAM,
    st.lists(DEAD, max_size=5).map(tuple),
)
def test_settle_reads_back_its_histogram_and_dead_letters(
    base: codec.Settle, histogram: tuple[str | int, ...], dead: tuple[codec.DeadEntry, ...]
) -> None:
    call = dataclasses.replace(base, histogram=histogram, dead=dead)
    check_round_trip(call)
    args = call.args()
    first_dead = len(call.named()) + len(histogram)
    assert args[len(call.named()) - 1] == len(histogram)  # histogram_len, as settle.lua reads it
    assert len(args) == first_dead + 6 * len(dead)


NEEDLES = st.lists(st.tuples(TEXT, TEXT, TEXT)).map(lambda ts: tuple(x for t in ts for x in t))
FORGET = (codec.ForgetGuard, codec.ForgetList, codec.ForgetDead, codec.ForgetBatches)


@pytest.mark.parametrize("layout", FORGET, ids=lambda c: c.SCRIPT)
def test_a_forget_script_reads_back_the_person_after_its_arguments(
    layout: type[codec.Layout],
) -> None:
    @given(
        fixed_strategy(layout),
        NEEDLES,
        st.lists(TEXT).map(tuple),
    )
    def round_trip(base: codec.Layout, needles: tuple[str, ...], ids: tuple[str, ...]) -> None:
        extra = {"batch_ids": ids} if layout is codec.ForgetBatches else {}
        call = dataclasses.replace(base, needles=needles, **extra)  # type: ignore[type-var]
        check_round_trip(call)
        assert call.args()[len(call.named()) - 1] == len(needles)  # needles_len

    round_trip()


def test_a_layout_refuses_an_argument_list_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="renew"):
        codec.Renew.parse(["id", "token"])
    with pytest.raises(ValueError, match="renew"):
        codec.Renew.parse(["id", "token", "1", "extra"])
    with pytest.raises(ValueError, match="odd"):
        codec.Replay.parse(["0", "600", "tw:{g}:receipts:", "1-0"])
    with pytest.raises(ValueError, match="needles_len"):
        codec.ForgetGuard.parse(["token", "60", "4", "telegram_id", "1", "1"])
    with pytest.raises(ValueError, match="groups of 4"):
        codec.Enqueue.parse(["1", "1", "1", "0", "1", "1", "0", "", b"12345678", "", "{}"])


@given(st.lists(st.binary(min_size=9, max_size=9)).map(tuple), st.sampled_from(["add", "remove"]))
def test_suppress_reads_back_its_members(members: tuple[bytes, ...], action: str) -> None:
    check_round_trip(codec.Suppress(action=action, members=members))


def test_keys_follow_the_declared_order() -> None:
    k = Keys("graspil")
    assert codec.Settle.keys(k, "b1") == [
        k.batch("b1"),
        k.leases,
        k.retry,
        k.dead,
        k.stats,
        k.latency,
        k.circuit,
        k.routes,
    ]
    assert codec.Enqueue.keys(k) == [
        k.pending,
        k.stats,
        k.trigger,
        k.seen,
        k.since,
        k.ids_prefix,
        k.suppressed,
    ]


def test_the_producer_s_enqueue_call_is_the_codec_s_layout() -> None:
    a, b = codec.id_key("a"), codec.id_key("b")
    events: list[codec.Arg] = [a, "a", '{"event_id":"a"}', b"", b, "", '{"event_id":"b"}', b"e1"]
    route = Route(events=events, skipped=2, skips=[("c", "no telegram_id"), ("d", "XTR")])
    limits = Limits(
        max_pending=1000,
        trigger_ttl_ms=5000,
        dedupe_ttl=60.0,
        full_batch={"g": 50},
        window=900.0,
        receipts_ttl=3600.0,
    )
    keys, args = call_args("g", route, limits, "tw")
    assert keys == codec.Enqueue.keys(Keys("g", "tw"))
    skips = '[3600.0, 600, "tw:{g}:receipts:", [["c", "no telegram_id"], ["d", "XTR"]]]'
    expected = codec.Enqueue(1000, 50, 5000, 2, 60.0, 900.0, False, skips, tuple(events))
    assert codec.Enqueue.parse(args) == expected
    off = dataclasses.replace(limits, receipts_ttl=0.0)  # receipts off: no skip receipts
    assert codec.Enqueue.parse(call_args("g", route, off, "tw")[1]).skips == ""


@pytest.mark.parametrize("raw", [["{}"], ['{"a":1}', '{"b":"x\\\\ny"}', ""]])
def test_a_batch_s_events_read_the_same_in_either_form(raw: list[str]) -> None:
    assert codec.batch_events("\n".join(raw), codec.LINES) == raw
    assert codec.batch_events(json.dumps(raw).encode(), codec.JSON) == raw


def test_a_claim_reply_holds_its_events_in_the_form_it_names() -> None:
    got = codec.claimed([b"b1", b'{"a":1}\n{"b":2}', b"3", b"boom", b"1", b"lines"])
    assert got == codec.Claimed("b1", ['{"a":1}', '{"b":2}'], 3, "boom", 1)
    assert codec.claimed([b"b2", b'["x"]', b"0", b"", b"0", b"json"]).events == ["x"]
    assert codec.claimed([b"", b"", b"", b"", b"2", b""]) == codec.Claimed("", [], 0, "", 2)


def test_a_corrupt_json_batch_raises_value_error() -> None:
    with pytest.raises(ValueError):
        codec.batch_events("[not json", codec.JSON)
