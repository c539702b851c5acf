"""One validated Settings object, built once at start-up and passed into constructors.

Sources, later wins: built-in defaults, the TOML file named by ``TRACKING_CONFIG``, the
environment (``TRACKING_REDIS_URL``), explicit ``configure()`` arguments. ``${VAR}`` in a TOML
string is replaced from the environment so secrets never live in the file. A provider is enabled
when its section is present. Anything unknown, missing or mistyped stops start-up with a message
naming the key: a value that would only fail later (a Redis URL redis-py cannot parse, a
key with a trailing newline, a batch larger than the provider takes) fails here instead.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

import marshmallow as ma
from marshmallow import fields, validate

from .errors import ConfigurationError
from .providers import REGISTRY, Provider
from .providers.base import DELIVERY_MODES, ProviderSettings, single_token
from .redact import Redactor
from .redis_settings import RedisSchema, RedisSettings
from .sections import SectionSchema, schema_for, setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_POSITIVE = validate.Range(min=0, min_inclusive=False)
_COUNT = validate.Range(min=1)
#: A thousand sends of one event is past any provider's recovery (at the default 300 s cap,
#: more than three days, beyond ``max_age``): a larger figure is a typo to report.
MAX_ATTEMPTS = 1000
#: Ten "not yet" tries are past any user appearing: a longer list is a mistake to report.
MAX_NOT_YET = 10
_DIGITS = re.compile(r"[0-9]+")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ON_UNAVAILABLE = ("spool", "raise")
_NOT_EMPTY = validate.Length(min=1, error="Must not be empty.")
_HASH_KEY = validate.Length(min=16, error="At least 16 characters: ids must not be guessed.")


def _float(**kwargs: Any) -> fields.Float:
    return fields.Float(allow_nan=False, **kwargs)


def _int(**kwargs: Any) -> fields.Integer:
    """Strict: a float (``3.0``, ``3.5``) or a bool where a count belongs is a typo to report."""
    return fields.Integer(strict=True, **kwargs)


class _Delays(fields.Field[tuple[float, ...]]):
    """Seconds between tries, each > 0, at most ``MAX_NOT_YET`` of them; kept as a tuple."""

    _list = fields.List(
        _float(validate=_POSITIVE),
        validate=validate.Length(max=MAX_NOT_YET, error="At most {max} delays."),
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return tuple(float(item) for item in self._list.deserialize(value))


def _sentry_dsn(value: str | None) -> None:
    """A DSN as sentry_sdk parses one, checked with urllib: importing sentry_sdk here would load
    it into every web process, and a bad DSN would otherwise fail only when a worker starts."""
    if value is None:
        return
    single_token(value)
    parts = urlsplit(value)
    if not (
        parts.scheme in ("http", "https")
        and parts.username
        and parts.hostname
        and _port_parses(parts)
        and _DIGITS.fullmatch(parts.path.rpartition("/")[2])
    ):
        raise ma.ValidationError(
            "Not a Sentry DSN: expected https://<public key>@<host>/<project id>."
        )


def _port_parses(parts: SplitResult) -> bool:
    """``port`` raises on a port that is not a number from 0 to 65535."""
    try:
        return parts.port is None or parts.port >= 0
    except ValueError:
        return False


class _UpperString(fields.String):
    """Text compared case-insensitively, kept upper-case (``info`` is the level ``INFO``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class _EmptyIsNone(fields.String):
    """An empty ``SENTRY_DSN=`` substituted for ``${SENTRY_DSN}`` disables Sentry, as an empty
    DSN does for sentry_sdk itself."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return None if value == "" else super()._deserialize(value, attr, data, **kwargs)


# Each section: a frozen dataclass declaring every key once (sections.py): its type, its
# default and, in ``setting``'s second argument, how a source's value is checked.


@dataclass(frozen=True)
class DeliverySettings:
    #: How long a partial batch may wait, and how often beat ticks.
    flush_interval: float = setting(2.0, _float(validate=_POSITIVE))
    max_attempts: int = setting(10, _int(validate=validate.Range(min=1, max=MAX_ATTEMPTS)))
    max_age: float = setting(86400.0, _float(validate=_POSITIVE))
    lease_seconds: float = setting(60.0, _float(validate=validate.Range(min=1)))
    backoff_base: float = setting(1.0, _float(validate=_POSITIVE))
    backoff_cap: float = setting(300.0, _float(validate=_POSITIVE))
    run_seconds: float = setting(20.0, _float(validate=_POSITIVE))
    breaker_threshold: int = setting(5, _int(validate=_COUNT))
    breaker_cooldown: float = setting(5.0, _float(validate=_POSITIVE))
    breaker_cooldown_cap: float = setting(300.0, _float(validate=_POSITIVE))
    credentials_cooldown: float = setting(600.0, _float(validate=_POSITIVE))
    #: A reject storm: this many batches in a row whose every event the provider rejected
    #: for the same reason pause the provider (until ``circuit reset``) instead of
    #: dead-lettering the backlog; 0 never pauses.
    storm_batches: int = setting(5, _int(validate=validate.Range(min=0)))
    #: Seconds between tries of an event the provider does not know the person of *yet*
    #: (VibeTrace's user must exist, giosg's no session for the visitor): five tries over about
    #: 17 minutes, then dead with the provider's words. Empty: dead at the first such answer.
    not_yet_delays: tuple[float, ...] = setting((30.0, 120.0, 300.0, 600.0), _Delays())
    max_pending: int = setting(1_000_000, _int(validate=_COUNT))
    dead_max: int = setting(100_000, _int(validate=_COUNT))
    #: Seconds a dead letter is kept (30 days): older ones are trimmed at each dead-letter
    #: write and by the tick, counted as ``dead_aged``. They hold personal data.
    dead_ttl: float = setting(2_592_000.0, _float(validate=validate.Range(min=60)))
    #: How long each event's delivery receipt (``tracking-worker trace``) is kept, give or take
    #: one 10-minute bucket (store/receipts.py); 0: none. An hour: receipts answer "what
    #: happened to this event just now" and cost Redis memory for every event sent.
    receipts_ttl: float = setting(3600.0, _float(validate=validate.Range(min=0)))
    #: Most delivery runs of one provider at once, across all workers (how many it gets below
    #: that: store/lua/run_slot.lua).
    max_runs: int = setting(16, _int(validate=validate.Range(min=1, max=64)))
    #: Seconds between a run's renewals of its slot and a worker node's of its presence.
    heartbeat_seconds: float = setting(1.0, _float(validate=validate.Range(min=0.1, max=60)))
    #: "dry_run": workers render, log and record each request (receipt ``dry_run``) instead
    #: of sending it; a provider's own ``mode`` overrides this.
    mode: Literal["send", "dry_run"] = setting(
        "send", fields.String(validate=validate.OneOf(DELIVERY_MODES))
    )

    @property
    def lapse_seconds(self) -> float:
        """How long a run slot, a node's presence and a trigger mark outlive their last renewal:
        three heartbeats (one or two may be missed), at least 5 s, never a lease."""
        return max(5.0, 3 * self.heartbeat_seconds)

    @property
    def trigger_ttl_ms(self) -> int:
        """A trigger mark lapses as a slot does: a lost message holds the next back seconds; one
        still waiting behind busy workers costs one more message per lapse (busy at once)."""
        return int(self.lapse_seconds * 1000)


@dataclass(frozen=True)
class ProducerSettings:
    on_unavailable: str = setting("spool", fields.String(validate=validate.OneOf(_ON_UNAVAILABLE)))
    #: Where events wait while Redis is down. A relative path in the TOML file is resolved
    #: against that file's folder (and kept absolute), so a web app and a worker started from
    #: different directories share one spool; a relative path from ``configure()``, or this
    #: default, is relative to the process's working directory.
    spool_dir: str = setting(".tracking/spool", fields.String(validate=_NOT_EMPTY))
    #: Seconds a quarantine file (spool lines no drain could read) is kept after its last
    #: write (30 days): ``spool drain`` and the tick remove older ones.
    quarantine_ttl: float = setting(2_592_000.0, _float(validate=_POSITIVE))
    dedupe_ttl: float = setting(86400.0, _float(validate=_POSITIVE))
    #: Seconds every event id is remembered per provider, so that enqueueing it again (a spool
    #: drained after a round trip that timed out once Redis had run it) is a no-op: about 10
    #: bytes of Redis an event and provider (see enqueue.lua). It must outlast the spool: 15
    #: minutes covers an outage of that length with traffic draining it right after.
    idempotency_window: float = setting(900.0, _float(validate=validate.Range(min=1, max=86400)))
    #: Seconds ``track()`` polls for Redis's reply before it sleeps on it: waking a sleeping
    #: thread costs about 50 µs on a virtual machine, more than a loopback round trip. 0 never
    #: polls. It stops by itself while round trips take longer, and on a single core.
    reply_spin: float = setting(0.0002, _float(validate=validate.Range(min=0, max=0.01)))


@dataclass(frozen=True)
class ObservabilitySettings:
    #: One of ``LOG_LEVELS``, kept upper-case whatever case the source used.
    log_level: str = setting("INFO", _UpperString(validate=validate.OneOf(LOG_LEVELS)))
    #: None disables Sentry (an empty string in a source means the same).
    sentry_dsn: str | None = setting(None, _EmptyIsNone(allow_none=True, validate=_sentry_dsn))
    #: Telegram, user and visitor ids in log lines and Sentry events replaced by a hash keyed
    #: with ``hash_key`` (a secret, needed then): one person's lines still correlate.
    hash_ids: bool = setting(False, fields.Boolean())
    hash_key: str | None = setting(None, _EmptyIsNone(allow_none=True, validate=_HASH_KEY))


_SECTIONS: Mapping[str, type[SectionSchema]] = MappingProxyType(
    {
        "redis": RedisSchema,
        "delivery": schema_for(DeliverySettings),
        "producer": schema_for(ProducerSettings),
        "observability": schema_for(ObservabilitySettings),
    }
)


@dataclass(frozen=True)
class Settings:
    """Everything tracking_worker is configured with; immutable once built."""

    redis: RedisSettings = field(default_factory=RedisSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    #: Each enabled provider's section, validated into its own settings class.
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Provider sections hold keys and tokens: show only which providers are enabled.
        return (
            f"Settings(redis_url={Redactor(self._own_secrets())(self.redis.url)!r}, "
            f"providers={sorted(self.providers)}, delivery={self.delivery})"
        )

    def build_providers(self) -> dict[str, Provider]:
        return {name: REGISTRY[name](conf) for name, conf in self.providers.items()}

    def secrets(self) -> list[str]:
        """Every secret value configured, so logs and Sentry events can be scrubbed."""
        return [s for p in self.build_providers().values() for s in p.secrets] + (
            self._own_secrets()
        )

    def _own_secrets(self) -> list[str]:
        """The Redis, sentinel and broker passwords, the Sentry DSN (it authorises sending
        events), the hash key."""
        redis, seen = self.redis, self.observability
        found = (redis.password, redis.sentinel_password, redis.broker_password, seen.sentry_dsn)
        return [s for s in (*found, seen.hash_key) if s]


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from every source (see module docstring)."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    path = env.get("TRACKING_CONFIG")
    if path:
        data = _merge(data, _anchor_spool(_substitute(_read_toml(path), env, ""), path))
    if env.get("TRACKING_REDIS_URL"):
        data = _merge(data, {"redis": {"url": env["TRACKING_REDIS_URL"]}})
    if overrides:
        data = _merge(data, _substitute(dict(overrides), env, ""))
    return build_settings(data)


def build_settings(data: Mapping[str, Any]) -> Settings:
    """Validate a plain dict (already merged and substituted) into Settings."""
    unknown = set(data) - set(_SECTIONS) - {"providers"}
    if unknown:
        raise ConfigurationError(f"unknown settings section(s): {', '.join(sorted(unknown))}")
    sections = {
        name: _load(schema(), data.get(name) or {}, name) for name, schema in _SECTIONS.items()
    }
    providers = _load_providers(data.get("providers") or {})
    settings = Settings(**sections, providers=MappingProxyType(providers))
    _check_lease(settings.delivery, providers)
    if settings.observability.hash_ids and not settings.observability.hash_key:
        raise ConfigurationError("observability.hash_key: required when hash_ids = true")
    return settings


def _check_lease(delivery: DeliverySettings, providers: Mapping[str, ProviderSettings]) -> None:
    """A lease shorter than one request's worst case would hand a live batch to another worker
    (it is renewed every third of itself, so it must outlast one request with room to spare)."""
    lease = delivery.lease_seconds
    for name, conf in providers.items():
        worst = conf.connect_timeout + conf.read_timeout
        if worst >= lease:
            raise ConfigurationError(
                f"providers.{name}.read_timeout: connect_timeout + read_timeout ({worst:g}s) "
                f"must be shorter than delivery.lease_seconds ({lease:g}s)"
            )


def _load_providers(raw: Mapping[str, Any]) -> dict[str, ProviderSettings]:
    loaded: dict[str, ProviderSettings] = {}
    for name, section in raw.items():
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigurationError(f"providers.{name}: unknown provider (known: {known})")
        if not isinstance(section, Mapping):
            raise ConfigurationError(f"providers.{name}: must be a table")
        loaded[name] = _load_provider(REGISTRY[name], section, f"providers.{name}")
    return loaded


def _load_provider(cls: type[Provider], section: Mapping[str, Any], where: str) -> ProviderSettings:
    """One provider's section. A ``batch_size`` above what the provider's API takes is refused,
    not quietly lowered: the operator asked for something this provider cannot do."""
    loaded: ProviderSettings = _load(cls.schema(), section, where)
    size = loaded.batch_size
    if size is not None and size > cls.max_batch:
        raise ConfigurationError(f"{where}.batch_size: at most {cls.max_batch} events per request")
    return loaded


def _load(schema: ma.Schema, section: Any, where: str) -> Any:
    if not isinstance(section, Mapping):
        raise ConfigurationError(f"{where}: must be a table")
    try:
        return schema.load(section)
    except ma.ValidationError as exc:
        raise ConfigurationError(_describe(exc.messages, where)) from None


def _describe(messages: Any, where: str) -> str:
    if isinstance(messages, Mapping):
        return "; ".join(_describe(v, f"{where}.{k}") for k, v in messages.items())
    text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
    return f"{where}: {text}"


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return dict(tomllib.load(handle))
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None


def _anchor_spool(data: dict[str, Any], config_path: str) -> dict[str, Any]:
    """A relative ``producer.spool_dir`` in a config file means next to that file, so a worker
    started from another directory (systemd, supervisor) finds the spool the web app filled.
    Anything that is not a non-empty relative string is left for the schema to judge."""
    producer = data.get("producer")
    spool = producer.get("spool_dir") if isinstance(producer, Mapping) else None
    if not isinstance(spool, str) or not spool or os.path.isabs(spool):
        return data
    folder = os.path.dirname(os.path.abspath(config_path))
    return _merge(data, {"producer": {"spool_dir": os.path.normpath(os.path.join(folder, spool))}})


def _substitute(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace ``${VAR}`` in every string; an unset variable names the key that needs it."""
    if isinstance(value, Mapping):
        return {
            k: _substitute(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise ConfigurationError(f"{where}: environment variable {var} is not set")
            return env[var]

        return _VAR.sub(repl, value)
    return value


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
