"""Secrets never reach logs or Sentry events."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tracking_worker.errors import ConfigurationError
from tracking_worker.redact import MASK, Redactor
from tracking_worker.settings import Settings, build_settings
from tracking_worker.worker.observability import (
    RedactingFilter,
    add_redaction,
    log_format,
    report_to_sentry,
    scrub,
    setup_sentry,
)


def test_sentry_events_are_scrubbed_everywhere() -> None:
    redact = Redactor(["sk-live-123456", "tok-abcdef"])
    event = {
        "message": "refused sk-live-123456",
        "extra": {"headers": {"Api-Key": "sk-live-123456"}, "list": ["x tok-abcdef y", 3]},
        "level": "error",
    }
    cleaned = scrub(event, redact)
    assert "sk-live-123456" not in repr(cleaned) and "tok-abcdef" not in repr(cleaned)
    assert cleaned["extra"]["list"] == [f"x {MASK} y", 3]
    assert cleaned["level"] == "error"


def test_log_records_are_masked_with_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tracking_worker.test_redaction")
    caplog.handler.addFilter(RedactingFilter(Redactor(["sk-live-123456"])))
    with caplog.at_level(logging.INFO, logger.name):
        logger.error("key %s refused by %s", "sk-live-123456", "graspil")
    assert caplog.text.count(MASK) == 1 and "sk-live-123456" not in caplog.text
    assert "graspil" in caplog.text


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["abc"])("abc abc") == "abc abc"  # would mask ordinary words


#: As a PHP provider echoes a rejected key: ``json_encode`` writes ``/`` as ``\/`` and ``é`` as
#: ``\u00e9``, so the raw key never appears in its answer.
PHP_KEY = "sk/live+kéy=123456"
PHP_ANSWER = json.dumps({"error": "invalid key", "key": PHP_KEY}).replace("/", "\\/")


def test_log_record_with_a_json_escaped_key_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    """A provider answer logged verbatim must not leak the key it echoes, escaped or not."""
    assert PHP_KEY not in PHP_ANSWER  # the raw key is not what has to be found
    logger = logging.getLogger("tracking_worker.test_redaction")
    caplog.handler.addFilter(RedactingFilter(Redactor([PHP_KEY])))
    with caplog.at_level(logging.INFO, logger.name):
        logger.warning("graspil answered %s: %s", 401, PHP_ANSWER)
    assert caplog.messages == [
        'graspil answered 401: {"error": "invalid key", "key": "' + MASK + '"}'
    ]


def test_scrub_masks_a_json_escaped_key_deep_in_a_sentry_event() -> None:
    """Sentry events carry provider answers in exception values, frame locals and breadcrumbs."""
    event = {
        "exception": {
            "values": [
                {
                    "value": f"unreadable answer 401: {PHP_ANSWER}",
                    "stacktrace": {"frames": [{"vars": {"text": PHP_ANSWER, "status": 401}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": PHP_ANSWER, "level": "warning"}]},
    }
    cleaned = scrub(event, Redactor([PHP_KEY]))
    masked = '{"error": "invalid key", "key": "' + MASK + '"}'
    exception = cleaned["exception"]["values"][0]
    assert exception["value"] == f"unreadable answer 401: {masked}"
    assert exception["stacktrace"]["frames"][0]["vars"] == {"text": masked, "status": 401}
    assert cleaned["breadcrumbs"]["values"] == [{"message": masked, "level": "warning"}]


# -- JSON log lines, e-mail masking, Sentry grouping --------------------------------------

KEY = "sk-live-123456"


def _settings(**observability: object) -> Settings:
    return build_settings(
        {
            "observability": observability,
            "providers": {"graspil": {"api_key": KEY, "targets": {"purchase": 1}}},
        }
    )


@pytest.fixture
def json_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with its own handler, set up as a worker's is with TRACKING_LOG_FORMAT=json."""
    monkeypatch.setenv("TRACKING_LOG_FORMAT", "json")
    out = io.StringIO()
    logger = logging.getLogger("tracking_worker.test_json")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.propagate = False
    add_redaction(logger, _settings())
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def test_json_format_writes_one_scrubbed_object_per_line(
    json_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_logger
    logger.warning(
        "graspil refused %s for %s", KEY, "ann@example.com", extra={"provider": "graspil", "n": 3}
    )
    try:
        raise ValueError(f"boom with {KEY} for bob@example.org")
    except ValueError:
        logger.exception("send failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == f"graspil refused {MASK} for a***@example.com"
    assert (first["level"], first["logger"]) == ("WARNING", "tracking_worker.test_json")
    assert (first["provider"], first["n"]) == ("graspil", 3)
    assert first["time"].endswith("+00:00")
    assert second["message"] == "send failed" and "ValueError: boom with" in second["exception"]
    text = out.getvalue()
    assert KEY not in text and "ann@example.com" not in text and "bob@example.org" not in text


def test_text_format_masks_emails_too(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tracking_worker.test_redaction")
    caplog.handler.addFilter(RedactingFilter(Redactor([])))
    with caplog.at_level(logging.INFO, logger.name):
        logger.warning("vibetrace: unknown user %s", "ann.lee@example.com")
    assert caplog.messages == ["vibetrace: unknown user a***@example.com"]


def test_an_unknown_log_format_stops_start_up() -> None:
    assert log_format({}) == "text" and log_format({"TRACKING_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(ConfigurationError, match="TRACKING_LOG_FORMAT"):
        log_format({"TRACKING_LOG_FORMAT": "xml"})


class Captured(Transport):
    """What would be sent to Sentry, kept here instead."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(dict(event))


@pytest.fixture
def sentry() -> Iterator[Captured]:
    captured = Captured()
    assert setup_sentry(_settings(sentry_dsn="https://public@sentry.example/1"), transport=captured)
    yield captured
    sentry_sdk.init()  # an inactive client again, for the rest of the test session


def test_sentry_groups_by_provider_and_kind_and_scrubs(sentry: Captured) -> None:
    report_to_sentry("rejected", "graspil", f"user ann@example.com unknown (key {KEY})", count=3)
    report_to_sentry("rejected", "graspil", "another user, other words")
    report_to_sentry("credentials", "graspil", f"401: key {KEY} refused")
    report_to_sentry("rejected", "vibetrace", "User not found")
    sentry_sdk.flush()
    first, second, refused, other = sentry.events
    assert (
        first["fingerprint"] == second["fingerprint"] == ["tracking-worker", "graspil", "rejected"]
    )
    assert refused["fingerprint"] == ["tracking-worker", "graspil", "credentials"]
    assert other["fingerprint"] == ["tracking-worker", "vibetrace", "rejected"]
    assert first["tags"] == {"provider": "graspil", "kind": "rejected"}
    assert first["extra"]["count"] == 3 and first["level"] == "error"
    sent = json.dumps(sentry.events)
    assert KEY not in sent and "ann@example.com" not in sent
    assert "a***@example.com" in json.dumps(first["message"])


def test_a_log_line_already_reported_is_not_sent_twice(sentry: Captured) -> None:
    log = logging.getLogger("tracking_worker.delivery")
    log.error("graspil: credentials refused", extra={"sentry_reported": True})
    log.error("graspil: credentials refused, key %s", KEY)
    sentry_sdk.flush()
    [event] = sentry.events
    assert KEY not in json.dumps(event)


def test_nothing_is_reported_without_a_dsn() -> None:
    assert report_to_sentry("rejected", "graspil", "why") is None
