"""The Provider interface: what one tracking API needs to be delivered to.

A provider module knows only its API: which events it takes, how events become one HTTP request,
and what an answer means. It never touches Redis, Celery, the network or the clock, so its unit
tests need no server. Delivery (``delivery.py``) does everything else.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate

from ..events import Event
from ..money import json_number, places_of
from ..outcomes import Outcome, Retry
from ..sections import SectionSchema, checked, schema_for, setting

EXCERPT_CHARS = 500
#: ``delivery.mode`` and a provider's ``mode``: send, or render and log each request instead
#: of sending it (a dry run, e.g. a first rollout on real credentials).
#: The settings' fields spell them out as ``Literal["send", "dry_run"]`` (ruff's RUF009 cannot
#: see through an alias that the value is immutable).
DELIVERY_MODES = ("send", "dry_run")


@dataclass(frozen=True)
class HttpRequest:
    """One request to send; ``body`` is JSON-encoded by the transport."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class HttpResponse:
    """The parts of an answer a provider classifies (independent of the HTTP library)."""

    status: int
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: When the answer arrived (epoch seconds), so an HTTP-date Retry-After needs no clock.
    received_at: float = 0.0

    def json(self) -> Any:
        """The decoded body, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def excerpt(self) -> str:
        return self.text[:EXCERPT_CHARS]


class UuidText(fields.String):
    """A UUID kept as canonical lower-case text, so settings stay plain values."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ma.ValidationError("Not a valid UUID.") from None


def single_token(value: str) -> None:
    """Validates a key, token or id: not empty, no whitespace or control character anywhere.

    Such a character is always a copying slip, most often the trailing newline of an environment
    variable filled from ``$(cat keyfile)``; the API would only refuse the key hours later.
    """
    if not value:
        raise ma.ValidationError("Must not be empty.")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ma.ValidationError(
            "Must not contain whitespace or control characters "
            "(a trailing newline from an environment variable?)."
        )


def trimmed_name(value: str) -> None:
    """Validates a name an API matches exactly: inner spaces allowed, but not empty, not padded
    with whitespace and free of control characters (the same copying slips as ``single_token``)."""
    if not value.strip():
        raise ma.ValidationError("Must not be empty.")
    if value != value.strip() or not value.isprintable():
        raise ma.ValidationError(
            "Must not start or end with whitespace or contain control characters."
        )


def http_base_url(value: str) -> None:
    """Validates a base URL that request paths are appended to: http(s) with a host, and no
    query string or fragment, which would land in the middle of every request URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ma.ValidationError("Must be an http:// or https:// URL with a host.")
    if "?" in value or "#" in value:
        raise ma.ValidationError("Must not have a query string or fragment.")


#: A dotted path to a function: ``package.module:function`` or ``package.module.function``.
HOOK_PATH = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*([:.][A-Za-z_]\w*)$"
HOOK_ERROR = "Not a dotted path to a function (package.module:function)."


@dataclass(frozen=True, kw_only=True)
class ProviderSettings:
    """Settings every provider has; a provider's settings add its own keys, each declared once
    with the marshmallow field that checks it (``tracking_worker.sections``).

    Integers are strict: a float (``2.0``) or a bool where a count belongs is a typo to report,
    not a value to round. ``batch_size`` above the provider's ``max_batch`` is refused by
    ``settings`` (the section does not know which provider it serves).
    """

    base_url: str = field(metadata=checked(fields.Url(required=True, require_tld=False)))
    #: None: the provider's ``default_batch``.
    batch_size: int | None = setting(
        None, fields.Integer(strict=True, validate=validate.Range(min=1))
    )
    max_connections: int = setting(
        16, fields.Integer(strict=True, validate=validate.Range(min=1, max=256))
    )
    connect_timeout: float = setting(3.05, fields.Float(validate=validate.Range(min=0.01)))
    read_timeout: float = setting(10.0, fields.Float(validate=validate.Range(min=0.01)))
    #: Requests per second, shared by every worker through Redis; none when absent.
    rate_limit: float | None = setting(
        None, fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False))
    )
    #: This provider's ``delivery.mode`` ("send" or "dry_run"); None: the global one.
    mode: Literal["send", "dry_run"] | None = setting(
        None, fields.String(allow_none=True, validate=validate.OneOf(DELIVERY_MODES))
    )
    #: A function ``module:name`` (or ``module.name``) the worker calls with each event and
    #: the provider's name before building its request: it returns the event, changed or
    #: not, or None (or raises ``tracking_worker.Drop``) to drop it (delivery/hooks.py).
    before_send: str | None = setting(
        None, fields.String(allow_none=True, validate=validate.Regexp(HOOK_PATH, error=HOOK_ERROR))
    )


def provider_url(default: str) -> str:
    """``base_url`` for a provider whose API has one address: the default, checked alike."""
    return setting(default, fields.Url(require_tld=False))


class _ProviderChecks(SectionSchema):
    """What every provider's schema checks beyond its keys' own fields."""

    @ma.validates("base_url")
    def _check_base_url(self, value: str, **_: Any) -> None:
        """Runs for every provider, including those that redeclare ``base_url`` with a default."""
        http_base_url(value)


def settings_schema(settings: type[ProviderSettings]) -> type[SectionSchema]:
    """The schema loading a provider's section into its ``settings`` dataclass."""
    return schema_for(settings, _ProviderChecks)


ProviderSchema = settings_schema(ProviderSettings)


class Provider(ABC):
    """Base of every provider adapter; subclasses declare what they are as class attributes."""

    #: Name used in settings (``[providers.<name>]``), Redis keys and the Celery queue.
    name: ClassVar[str]
    #: Where it comes in listings (status tables, the demo): 10, 20, ...; then by name.
    order: ClassVar[int] = 1000
    #: Most events one request may carry (1 = one event per request).
    max_batch: ClassVar[int] = 1
    #: Events per request when the settings do not say.
    default_batch: ClassVar[int] = 1
    #: Schema of this provider's settings section: ``settings_schema(<its settings class>)``,
    #: whose ``load`` gives the ``settings`` the provider is built with.
    schema: ClassVar[type[SectionSchema]] = ProviderSchema
    #: Settings keys holding secrets: their values never reach logs, dead letters or Sentry.
    secret_keys: ClassVar[tuple[str, ...]] = ()
    #: The currencies whose amounts this provider can hold (``money``); None: it sends no
    #: amount, so any currency will do. An event with a value in another currency is skipped.
    currencies: ClassVar[frozenset[str] | None] = None
    #: A provider narrows this to its own settings class (``settings: GraspilSettings``).
    settings: ProviderSettings

    def __init__(self, settings: ProviderSettings) -> None:
        expected = self.schema.section
        if not isinstance(settings, expected):
            raise TypeError(f"{self.name} is built with {expected.__name__}, not {settings!r}")
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        # Settings refuse a batch_size above max_batch (naming the maximum), so none is clamped.
        self.batch_size = settings.batch_size or self.default_batch
        self.max_connections = settings.max_connections
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        self.rate_limit = settings.rate_limit or None

    def claim_size(self, lease_seconds: float) -> int:
        """Events claimed at once (and the full batch that starts a delivery): one request's
        worth for batching APIs; enough single requests to keep every pooled connection busy
        for one-event APIs; under a rate limit, no more than half a lease's worth, so a claim is
        always sent well within its lease."""
        size = self.batch_size if self.batch_size > 1 else 8 * self.max_connections
        if self.rate_limit:
            size = min(size, max(self.batch_size, int(self.rate_limit * lease_seconds / 2)))
        return size

    @property
    def secrets(self) -> list[str]:
        found = (getattr(self.settings, k) for k in self.secret_keys)
        return [str(value) for value in found if value]

    @abstractmethod
    def skip_reason(self, event: Event) -> str | None:
        """Why this provider cannot take the event (counted as skipped), or None."""

    def check_event(self, event: Event) -> dict[str, list[str]]:
        """Errors by field path (``context.is_premium``) in the values this provider's API
        types and the event carries, or {}. ``Producer.validate`` calls it for the providers
        the event goes to, so ``track()`` raises ValidationError instead of a request the API
        refuses. Pure and cheap: it runs for every tracked event."""
        return {}

    @abstractmethod
    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        """The one request carrying ``events`` (at most ``batch_size`` of them)."""

    @abstractmethod
    def classify(self, response: HttpResponse) -> Outcome:
        """What the answer means for every event of the request."""

    def describe_success(self, response: HttpResponse) -> str:
        """A short note on a delivered request worth logging (e.g. the provider's own id)."""
        return ""


def amount_skip(event: Event, currencies: frozenset[str], provider: str) -> str | None:
    """Why an event's amount cannot go to ``provider``: a currency it does not take, or an
    amount no JSON float shows exactly at the currency's places (see ``money.json_number``)."""
    if event.value is None:
        return None
    if event.currency not in currencies:
        return f"currency {event.currency} is not one {provider} takes (ISO 4217 codes only)"
    if json_number(event.value, places_of(event.currency)) is None:
        return f"value {event.value!r} has more digits than a JSON float shows exactly"
    return None


def amount_of(event: Event) -> int | float | None:
    """The event's value as a JSON number at its currency's places (``money.json_number``)."""
    if event.value is None:
        return None
    return json_number(event.value, places_of(event.currency))


def messages_text(value: Any) -> str:
    """A provider's error messages as one line: a list joined, anything else as text."""
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


def retry_after(response: HttpResponse) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), if any."""
    raw = response.header("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - response.received_at)
    except (TypeError, ValueError):
        return None


def transient(response: HttpResponse) -> Outcome | None:
    """The answers every provider treats alike: rate limits, timeouts and server errors.

    Returns None for any other status, which the provider classifies itself.
    """
    status = response.status
    if status == 429:
        return Retry("rate limited (429)", status, after=retry_after(response), throttled=True)
    if status == 408 or status >= 500:
        return Retry(
            f"server error {status}: {response.excerpt[:200]}", status, after=retry_after(response)
        )
    return None
