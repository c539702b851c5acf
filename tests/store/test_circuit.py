"""The breaker's state machine in Redis: open, cooldown growth, half-open probe, throttle.
Time is Redis's; ``advance`` lets it pass without waiting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import redis

from tests.store.timetravel import advance, redis_now
from tracking_worker.keys import Keys
from tracking_worker.settings import DeliverySettings
from tracking_worker.store import circuit as circuit_module
from tracking_worker.store.circuit import (
    CREDENTIALS,
    FAILURE,
    REJECTED,
    SUCCESS,
    THROTTLE,
    Circuit,
    Kind,
    State,
    as_state,
)
from tracking_worker.store.lua_scripts import Scripts

RULES = DeliverySettings(
    breaker_threshold=3,
    breaker_cooldown=10,
    breaker_cooldown_cap=35,
    credentials_cooldown=600,
    lease_seconds=20,
)


@pytest.fixture
def circuit(redis_client: redis.Redis) -> Circuit:
    return Circuit(redis_client, Scripts(), Keys("graspil"), RULES)


def wait(circuit: Circuit, seconds: float) -> None:
    advance(circuit.client, circuit.keys, seconds)


def test_opens_after_threshold_and_probes_once(circuit: Circuit) -> None:
    for _ in range(2):
        assert not circuit.record(FAILURE).opened
        assert circuit.allow().allowed
    change = circuit.record(FAILURE)
    assert change.opened and change.open_until - change.now == pytest.approx(10)
    wait(circuit, 9.5)
    assert not circuit.allow().allowed
    wait(circuit, 0.6)
    probe = circuit.allow()
    assert probe.allowed and probe.state == "half"
    assert not circuit.allow().allowed  # only one probe at a time
    wait(circuit, 21)
    assert circuit.allow().allowed  # a probe that never reported frees the slot after its lease


def test_a_probe_that_found_nothing_gives_its_slot_back_at_once(circuit: Circuit) -> None:
    for _ in range(3):
        circuit.record(FAILURE)
    wait(circuit, 10.1)
    assert circuit.allow().state == "half"
    assert not circuit.allow().allowed
    assert circuit.release_probe()
    assert circuit.allow().allowed
    circuit.record(SUCCESS)
    assert not circuit.release_probe()  # closed: nothing to release


def test_failed_probe_reopens_with_a_doubled_capped_cooldown(circuit: Circuit) -> None:
    for _ in range(3):
        circuit.record(FAILURE)
    wait(circuit, 10.1)
    assert circuit.allow().allowed
    change = circuit.record(FAILURE)
    assert change.open_until - change.now == pytest.approx(20)
    wait(circuit, 20.1)
    assert circuit.allow().allowed
    change = circuit.record(FAILURE)
    assert change.open_until - change.now == pytest.approx(35)  # capped
    wait(circuit, 35.1)
    assert circuit.allow().allowed
    circuit.record(SUCCESS)
    assert circuit.state() == {"state": "closed"}
    assert circuit.allow().allowed


def test_throttle_pauses_without_counting_a_failure(circuit: Circuit) -> None:
    change = circuit.record(THROTTLE, wait=5)
    assert not change.opened and change.open_until - change.now == pytest.approx(5)
    wait(circuit, 4.5)
    assert not circuit.allow().allowed
    wait(circuit, 0.6)
    assert circuit.allow().allowed
    assert circuit.state()["failures"] == "0"


def test_reset_closes_and_makes_waiting_batches_due(circuit: Circuit) -> None:
    circuit.record(CREDENTIALS, reason="key refused")
    client, retry = circuit.client, circuit.keys.retry
    now = redis_now(client)
    client.zadd(retry, {"due-later": now + 600, "due-before": now - 1})
    assert circuit.reset() == 1
    assert circuit.allow().allowed and circuit.state() == {"state": "closed"}
    assert client.zscore(retry, "due-later") <= redis_now(client)
    assert client.zscore(retry, "due-before") == now - 1


def test_credentials_open_for_the_long_cooldown(circuit: Circuit) -> None:
    change = circuit.record(CREDENTIALS, reason="key refused")
    assert change.opened and change.open_until - change.now == pytest.approx(600)
    assert circuit.state()["reason"] == "key refused"


def test_circuit_time_is_redis_time(circuit: Circuit) -> None:
    change = circuit.record(CREDENTIALS, reason="key refused")
    assert abs(change.now - redis_now(circuit.client)) < 5


def test_the_typed_states_and_kinds_are_the_strings_the_scripts_use() -> None:
    """``State`` and ``Kind`` only name what circuit_*.lua stores and takes: the hash in Redis
    keeps the same strings, and a state never recorded reads as closed."""
    scripts = "".join(
        path.read_text() for path in Path(circuit_module.__file__).parent.glob("lua/circuit_*.lua")
    )
    assert all(f"'{state}'" in scripts for state in get_args(State))
    kinds = re.search(r"ARGV: kind +((?:\w+ \| )*\w+)", scripts)  # circuit_record's header
    assert kinds and set(kinds.group(1).split(" | ")) == set(get_args(Kind))
    assert [as_state(s) for s in (b"half", "open", "closed", None)] == [
        "half",
        "open",
        "closed",
        "closed",
    ]


def test_a_reject_storm_pauses_until_a_reset_and_a_new_reason_starts_counting_again(
    redis_client: redis.Redis,
) -> None:
    """The same reject reason on every event of ``storm_batches`` batches in a row pauses the
    provider (the rest of the backlog stays queued, not dead); another reason between them
    starts the count over; only a reset resumes."""
    rules = DeliverySettings(breaker_threshold=3, storm_batches=3, lease_seconds=20)
    circuit = Circuit(redis_client, Scripts(), Keys("graspil"), rules)
    for reason in ("field x refused", "field x refused", "field y refused", "field x refused"):
        assert not circuit.record(REJECTED, reason=reason).opened
    assert circuit.allow().allowed
    assert not circuit.record(REJECTED, reason="field x refused").opened
    assert circuit.record(REJECTED, reason="field x refused").opened  # three in a row
    assert not circuit.allow().allowed
    advance(circuit.client, circuit.keys, 3600)  # no cooldown ends a storm
    assert not circuit.allow().allowed
    circuit.reset()
    assert circuit.allow().allowed


@pytest.mark.parametrize("held", ["configuration", "storm"])
def test_a_late_success_does_not_lift_a_held_pause(redis_client: redis.Redis, held: str) -> None:
    """Nothing is sent while a configuration pause or a reject storm holds, so a success
    recorded then is the answer of a request sent before it: the pause stays until a reset."""
    rules = DeliverySettings(breaker_threshold=3, storm_batches=2, lease_seconds=20)
    circuit = Circuit(redis_client, Scripts(), Keys("graspil"), rules)
    if held == "configuration":
        assert circuit.record("configuration", reason="Unknown target_id", setting="x").opened
    else:
        circuit.record(REJECTED, reason="field x refused")
        assert circuit.record(REJECTED, reason="field x refused").opened
    assert circuit.record(SUCCESS).state == "open"
    assert circuit.state()["kind"] == held
    assert not circuit.allow().allowed
    circuit.reset()
    assert circuit.allow().allowed
