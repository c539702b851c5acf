"""Secrets never reach logs or Sentry events."""

from __future__ import annotations

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
