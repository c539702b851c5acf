"""Secrets never reach logs or Sentry events."""

from __future__ import annotations

import json
import logging

import pytest

from tracking_worker.redact import MASK, Redactor
from tracking_worker.worker.observability import RedactingFilter, scrub


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
