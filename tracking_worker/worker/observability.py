"""Logging and Sentry, set up once per process, with every configured secret scrubbed."""

from __future__ import annotations

import logging
from typing import Any

from ..redact import Redactor
from ..settings import Settings


class RedactingFilter(logging.Filter):
    """Masks secret values in every record before any handler formats it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redact.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


def setup_logging(settings: Settings) -> None:
    """Level from settings; a redacting filter on the root handlers."""
    level = settings.observability.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    add_redaction(logging.getLogger(), settings)


def add_redaction(logger: logging.Logger, settings: Settings) -> None:
    """Mask every configured secret in what ``logger``'s handlers write."""
    logging.getLogger("tracking_worker").setLevel(settings.observability.log_level.upper())
    redacting = RedactingFilter(Redactor(settings.secrets()))
    for handler in logger.handlers:
        handler.addFilter(redacting)


def setup_sentry(settings: Settings) -> bool:
    """Initialise Sentry when a DSN is configured; events are scrubbed of secrets."""
    dsn = settings.observability.sentry_dsn
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    redact = Redactor(settings.secrets())

    def before_send(event: Any, hint: Any) -> Any:
        return scrub(event, redact)

    sentry_sdk.init(
        dsn=dsn,
        integrations=[CeleryIntegration(), LoggingIntegration(event_level=logging.ERROR)],
        before_send=before_send,
        send_default_pii=False,
    )
    return True


def scrub(value: Any, redact: Redactor) -> Any:
    """Recursively mask secrets in a Sentry event (strings anywhere in the structure)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, redact) for v in value]
    return value
