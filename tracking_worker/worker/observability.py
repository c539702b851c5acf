"""Logging and Sentry, set up once per process, with every configured secret scrubbed,
e-mail addresses masked (they are personal data, and dead-letter reasons echo them) and, with
``observability.hash_ids``, people's ids replaced by a keyed hash (idhash.py).

``TRACKING_LOG_FORMAT=json`` writes one JSON object per line, for log shippers that would
otherwise have to parse free text; ``text`` (the default) keeps the human format.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..errors import ConfigurationError
from ..idhash import IdHasher
from ..redact import Redactor
from ..settings import Settings

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
#: A phone number as people write one: international (``+`` and 8 to 15 digits, spaces, dots,
#: dashes or brackets between them) or North American with separators (``(415) 555-2671``,
#: ``415-555-2671``). Bare runs of digits are left alone: they are ids, times, amounts.
_PHONE = re.compile(
    r"(?<![\w+])\+\d(?:[\s().-]{0,2}\d){7,14}(?!\d)"
    r"|(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}(?!\d)"
)
#: What every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

#: Sentry issue titles per kind of failure (the fingerprint's second part).
KINDS = {
    "rejected": "events rejected by the provider",
    "expired": "events expired before delivery",
    "mapping": "events the provider mapping failed on",
    "not_yet": "events whose person the provider still did not know after the not-yet schedule",
    "malformed": "malformed events in the queue",
    "credentials": "credentials refused",
    "configuration": "a setting the provider says is wrong (paused, events kept)",
    "storm": "every event rejected for one reason (provider paused, events kept)",
}


def mask_emails(text: str) -> str:
    """``ann@example.com`` -> ``a***@example.com``: enough to recognise a case, not a person."""
    return _EMAIL.sub(r"\1***@\2", text) if "@" in text else text


def mask_phones(text: str) -> str:
    """``+49 170 1234567`` -> ``+***67``: the last two digits, to tell two numbers apart."""
    return _PHONE.sub(_masked_phone, text)


def _masked_phone(match: re.Match[str]) -> str:
    number = match.group(0)
    digits = [c for c in number if c.isdigit()]
    return ("+" if number.startswith("+") else "") + "***" + "".join(digits[-2:])


def id_hasher(settings: Settings) -> IdHasher | None:
    """The hasher of people's ids when ``observability.hash_ids`` is on."""
    seen = settings.observability
    return IdHasher(seen.hash_key) if seen.hash_ids and seen.hash_key else None


class RedactingFilter(logging.Filter):
    """Masks secret values and e-mails (and hashes ids, given ``ids``) in every record before
    any handler formats it."""

    def __init__(self, redact: Redactor, ids: IdHasher | None = None) -> None:
        super().__init__()
        self.redact = redact
        self.ids = ids

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_emails(self.redact(message) if self.redact.secrets else message)
        if self.ids is not None:
            masked = self.ids(masked)
        if masked != message or self.redact.secrets:
            record.msg = masked
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, ``extra=`` fields,
    exception; every string scrubbed, so a traceback's text cannot leak a key either."""

    def __init__(self, redact: Redactor, ids: IdHasher | None = None) -> None:
        super().__init__()
        self.redact = redact
        self.ids = ids

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        data: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and not name.startswith("_"):
                data[name] = value if _plain(value) else repr(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        cleaned = scrub(data, self.redact, emails=True, ids=self.ids)
        return json.dumps(cleaned, ensure_ascii=False, default=repr)


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """``TRACKING_LOG_FORMAT``; an unknown value stops start-up, as bad settings do."""
    value = (os.environ if environ is None else environ).get("TRACKING_LOG_FORMAT", "text")
    value = value.strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise ConfigurationError(
            f"TRACKING_LOG_FORMAT: must be one of {', '.join(LOG_FORMATS)}, not {value!r}"
        )
    return value


def setup_logging(settings: Settings) -> None:
    """Level from settings; a redacting filter (and the chosen format) on the root handlers."""
    level = settings.observability.log_level.upper()
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    add_redaction(logging.getLogger(), settings)


def add_redaction(logger: logging.Logger, settings: Settings) -> None:
    """Mask every configured secret and e-mail (and hash ids, with ``hash_ids``) in what
    ``logger``'s handlers write; with ``TRACKING_LOG_FORMAT=json`` they write JSON lines."""
    logging.getLogger("tracking_worker").setLevel(settings.observability.log_level.upper())
    redact = Redactor(settings.secrets())
    ids = id_hasher(settings)
    redacting = RedactingFilter(redact, ids)
    as_json = log_format() == "json"
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
        if as_json:
            handler.setFormatter(JsonFormatter(redact, ids))


def setup_sentry(settings: Settings, *, transport: Any = None) -> bool:
    """Initialise Sentry when a DSN is configured; events are scrubbed of secrets and
    e-mails, and their ids hashed with ``hash_ids``. ``transport`` replaces the HTTP one
    (tests capture what would be sent)."""
    dsn = settings.observability.sentry_dsn
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    redact = Redactor(settings.secrets())
    ids = id_hasher(settings)

    def before_send(event: Any, hint: Any) -> Any:
        record = (hint or {}).get("log_record")
        if getattr(record, "sentry_reported", False):
            return None  # report_to_sentry already sent it, grouped
        return scrub(event, redact, emails=True, ids=ids)

    options: dict[str, Any] = {"transport": transport} if transport is not None else {}
    options.update(_no_personal_data(sentry_sdk.VERSION))
    sentry_sdk.init(
        dsn=dsn,
        integrations=[CeleryIntegration(), LoggingIntegration(event_level=logging.ERROR)],
        before_send=before_send,
        **options,
    )
    return True


def _no_personal_data(version: str) -> dict[str, Any]:
    """The option that keeps user data (ids, IPs, request bodies) out of Sentry's own capture:
    ``send_default_pii=False`` until sentry-sdk 3, which refuses it for ``data_collection``.
    Our ``before_send`` scrubs secrets and e-mails either way."""
    if int(version.split(".")[0]) >= 3:
        return {"data_collection": {"user_info": False, "http_bodies": []}}
    return {"send_default_pii": False}


def report_to_sentry(kind: str, provider: str, reason: str, *, count: int = 1) -> str | None:
    """One Sentry event for a dead-lettering or a refused key, grouped by provider and kind
    (not by the reason's text, which varies per event: one issue per cause, not thousands),
    tagged with the provider. A no-op where Sentry is not set up; returns the event id.

    A log line about the same thing should pass ``extra={"sentry_reported": True}`` so the
    logging integration does not send it a second time."""
    if "sentry_sdk" not in sys.modules:
        return None  # never initialised in this process: do not import it now
    import sentry_sdk

    if not sentry_sdk.get_client().is_active():
        return None
    title = KINDS.get(kind, kind)
    with sentry_sdk.new_scope() as scope:
        scope.fingerprint = ["tracking-worker", provider, kind]
        scope.set_tag("provider", provider)
        scope.set_tag("kind", kind)
        scope.set_extra("count", count)
        scope.set_extra("reason", reason)
        scope.set_level("error")
        return sentry_sdk.capture_message(f"{provider}: {count} {title}: {reason}")


def scrub(
    value: Any, redact: Redactor, *, emails: bool = False, ids: IdHasher | None = None
) -> Any:
    """Recursively mask secrets (and with ``emails``, e-mail addresses; with ``ids``, people's
    ids, in text and under their keys) in a Sentry event or a log object: strings anywhere in
    the structure."""
    if isinstance(value, str):
        value = redact(value)
        value = mask_emails(value) if emails else value
        return ids(value) if ids is not None else value
    if isinstance(value, dict):
        if ids is not None:
            value = {k: ids.value(k, v) for k, v in value.items()}
        return {k: scrub(v, redact, emails=emails, ids=ids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, redact, emails=emails, ids=ids) for v in value]
    return value


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON as it is (anything else is logged as its repr)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False
