"""The breaker's state machine in Redis: open, cooldown growth, half-open probe, throttle."""

from __future__ import annotations

import pytest
import redis

from tracking_worker.keys import Keys
from tracking_worker.settings import load_settings
from tracking_worker.store.circuit import CREDENTIALS, FAILURE, SUCCESS, THROTTLE, Circuit
from tracking_worker.store.lua_scripts import Scripts

NOW = 1_000.0


@pytest.fixture
def circuit(redis_client: redis.Redis) -> Circuit:
    delivery = load_settings(
        {
            "delivery": {
                "breaker_threshold": 3,
                "breaker_cooldown": 10,
                "breaker_cooldown_cap": 35,
                "credentials_cooldown": 600,
                "lease_seconds": 20,
            }
        },
        environ={},
    ).delivery
    return Circuit(redis_client, Scripts(), Keys("graspil"), delivery)


def test_opens_after_threshold_and_probes_once(circuit: Circuit) -> None:
    for _ in range(2):
        assert not circuit.record(FAILURE, now=NOW).opened
        assert circuit.allow(now=NOW).allowed
    change = circuit.record(FAILURE, now=NOW)
    assert change.opened and change.open_until == NOW + 10
    assert not circuit.allow(now=NOW + 9.9).allowed
    probe = circuit.allow(now=NOW + 10)
    assert probe.allowed and probe.state == "half"
    assert not circuit.allow(now=NOW + 10.5).allowed  # only one probe at a time
    assert circuit.allow(now=NOW + 31).allowed  # a probe that never reported frees the slot


def test_failed_probe_reopens_with_a_doubled_capped_cooldown(circuit: Circuit) -> None:
    for _ in range(3):
        circuit.record(FAILURE, now=NOW)
    assert circuit.allow(now=NOW + 10).allowed
    assert circuit.record(FAILURE, now=NOW + 10).open_until == NOW + 10 + 20
    assert circuit.allow(now=NOW + 30).allowed
    assert circuit.record(FAILURE, now=NOW + 30).open_until == NOW + 30 + 35  # capped
    assert circuit.allow(now=NOW + 65).allowed
    circuit.record(SUCCESS, now=NOW + 65)
    assert circuit.state() == {"state": "closed"}
    assert circuit.allow(now=NOW + 65).allowed


def test_throttle_pauses_without_counting_a_failure(circuit: Circuit) -> None:
    change = circuit.record(THROTTLE, now=NOW, wait=5)
    assert not change.opened and change.open_until == NOW + 5
    assert not circuit.allow(now=NOW + 4.9).allowed
    assert circuit.allow(now=NOW + 5).allowed
    assert circuit.state()["failures"] == "0"


def test_reset_closes_and_makes_waiting_batches_due(circuit: Circuit) -> None:
    circuit.record(CREDENTIALS, now=NOW, reason="key refused")
    client, retry = circuit.client, circuit.keys.retry
    client.zadd(retry, {"due-later": NOW + 600, "due-before": NOW - 1})
    assert circuit.reset(now=NOW) == 1
    assert circuit.allow(now=NOW).allowed and circuit.state() == {"state": "closed"}
    assert (
        client.zscore(retry, "due-later") == NOW and client.zscore(retry, "due-before") == NOW - 1
    )


def test_credentials_open_for_the_long_cooldown(circuit: Circuit) -> None:
    change = circuit.record(CREDENTIALS, now=NOW, reason="key refused")
    assert change.opened and change.open_until == NOW + 600
    assert circuit.open_until() == NOW + 600
    assert circuit.state()["reason"] == "key refused"
