"""``observability.hash_ids``: the ids of a person in the worker's log lines and Sentry events
are a keyed hash, the same for the same id, never the id itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
import sentry_sdk

from tests.delivery.test_deliverer import enqueue, purchases, sandboxed
from tests.store.timetravel import advance
from tests.worker.test_observability import Captured
from tracking_worker.errors import ConfigurationError
from tracking_worker.events import Event
from tracking_worker.idhash import IdHasher
from tracking_worker.redact import Redactor
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import Settings, build_settings
from tracking_worker.worker.observability import (
    RedactingFilter,
    id_hasher,
    report_to_sentry,
    setup_sentry,
)

KEY = "an-operator-secret-of-some-length"
PERSON = 987654321


def hashing(**observability: object) -> Settings:
    return build_settings(
        {
            "observability": {"hash_ids": True, "hash_key": KEY, **observability},
            "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
        }
    )


def purchase(n: int) -> Event:
    [event] = purchases(1)
    return replace(event, event_id=f"e-{n}", telegram_id=PERSON)


def test_a_circuit_opened_line_shows_the_same_hash_for_the_same_id(
    redis_client: redis.Redis, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider's 500 answer echoes the person's ids; the worker logs that answer when
    the circuit opens, twice (a failed probe opens it again)."""
    settings = hashing()
    caplog.handler.addFilter(RedactingFilter(Redactor(settings.secrets()), id_hasher(settings)))
    d = sandboxed(redis_client, sandbox, "graspil", breaker_threshold=1)
    body = {"error": "database timeout", "user_id": PERSON, "visitor_id": "visitor-7"}
    sandbox.add_fault("graspil", 500, body, duration=60)
    enqueue(d, [purchase(1)])
    with caplog.at_level("WARNING", "tracking_worker"):
        d.run(flush=True)
        advance(redis_client, d.queue.keys, 400)  # past the cooldown: the probe fails again
        d.run(flush=True)
    lines = [r.getMessage() for r in caplog.records if "circuit opened" in r.getMessage()]
    assert len(lines) == 2
    token = IdHasher(KEY).token(PERSON)
    for line in lines:
        assert str(PERSON) not in line and "visitor-7" not in line
        assert f'"user_id": {token}' in line and IdHasher(KEY).token("visitor-7") in line
    assert token != IdHasher("another-key-of-enough-length").token(PERSON)  # keyed


@pytest.fixture
def sentry() -> Iterator[Captured]:
    captured = Captured()
    assert setup_sentry(hashing(sentry_dsn="https://public@sentry.example/1"), transport=captured)
    yield captured
    sentry_sdk.init()  # an inactive client again, for the rest of the test session


def test_a_dead_letter_s_sentry_event_shows_the_same_hash_for_the_same_id(
    redis_client: redis.Redis, sandbox: SandboxServer, sentry: Captured
) -> None:
    """Graspil's refusal names the user; the worker reports each dead letter to Sentry."""
    d = sandboxed(redis_client, sandbox, "graspil")
    d.report = lambda kind, provider, reason, count: report_to_sentry(
        kind, provider, reason, count=count
    )
    sandbox.reject_matching("graspil", "user_id", PERSON, f"{PERSON} is not a user of this bot")
    for n in (1, 2):
        enqueue(d, [purchase(n)])
        d.run(flush=True)
    sentry_sdk.flush()
    assert len(sentry.events) == 2
    token = IdHasher(KEY).token(PERSON)
    for event in sentry.events:
        sent = json.dumps(event)
        assert str(PERSON) not in sent, _where(event)
        assert f"user_id: {token} is not a user of this bot" in event["extra"]["reason"]


def _where(value: object, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _where(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _where(v, f"{path}[{i}]")]
    return [path] if str(PERSON) in str(value) else []


def test_structured_fields_named_after_ids_are_hashed_too() -> None:
    ids = IdHasher(KEY)
    assert ids.value("telegram_id", 42) == ids.token(42) == ids.token("42")
    assert ids.value("user_id", None) is None and ids.value("order_id", "o-1") == "o-1"
    assert ids("Event(telegram_id=42, user_id='u-1', visitor_id=None)") == (
        f"Event(telegram_id={ids.token(42)}, user_id='{ids.token('u-1')}', visitor_id=None)"
    )
    assert ids(ids("user_id=42")) == ids("user_id=42")  # scrubbed twice: hashed once


def test_hash_ids_needs_a_key_of_some_length() -> None:
    with pytest.raises(ConfigurationError, match=r"observability\.hash_key: required"):
        build_settings({"observability": {"hash_ids": True}})
    with pytest.raises(ConfigurationError, match=r"observability\.hash_key: At least 16"):
        build_settings({"observability": {"hash_ids": True, "hash_key": "short"}})
    assert KEY in hashing().secrets()  # masked wherever it would be echoed
    assert id_hasher(build_settings({})) is None  # off by default
