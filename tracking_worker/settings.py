"""One validated Settings object, built once at start-up and passed into constructors.

Sources, later wins: built-in defaults, the TOML file named by ``TRACKING_CONFIG``, the
environment (``TRACKING_REDIS_URL``), explicit ``configure()`` arguments. ``${VAR}`` in a TOML
string is replaced from the environment so secrets never live in the file. A provider is enabled
when its section is present. Anything unknown, missing or mistyped stops start-up with a message
naming the key.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate

from .errors import ConfigurationError
from .providers import REGISTRY, Provider
from .redact import Redactor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_POSITIVE = validate.Range(min=0, min_inclusive=False)


class RedisSchema(ma.Schema):
    url = fields.String(load_default="redis://localhost:6379/0")
    #: Bounds how long track() may wait on Redis before spooling (or raising).
    socket_timeout = fields.Float(load_default=0.5, validate=_POSITIVE)
    key_prefix = fields.String(load_default="tw", validate=validate.Length(min=1))


class DeliverySchema(ma.Schema):
    flush_interval = fields.Float(load_default=2.0, validate=_POSITIVE)
    max_attempts = fields.Integer(load_default=10, validate=validate.Range(min=1))
    max_age = fields.Float(load_default=86400.0, validate=_POSITIVE)
    lease_seconds = fields.Float(load_default=60.0, validate=validate.Range(min=1))
    backoff_base = fields.Float(load_default=1.0, validate=_POSITIVE)
    backoff_cap = fields.Float(load_default=300.0, validate=_POSITIVE)
    run_seconds = fields.Float(load_default=20.0, validate=_POSITIVE)
    breaker_threshold = fields.Integer(load_default=5, validate=validate.Range(min=1))
    breaker_cooldown = fields.Float(load_default=5.0, validate=_POSITIVE)
    breaker_cooldown_cap = fields.Float(load_default=300.0, validate=_POSITIVE)
    credentials_cooldown = fields.Float(load_default=600.0, validate=_POSITIVE)
    max_pending = fields.Integer(load_default=1_000_000, validate=validate.Range(min=1))
    dead_max = fields.Integer(load_default=100_000, validate=validate.Range(min=1))


class ProducerSchema(ma.Schema):
    on_unavailable = fields.String(
        load_default="spool", validate=validate.OneOf(["spool", "raise"])
    )
    spool_dir = fields.String(load_default=".tracking/spool")
    dedupe_ttl = fields.Float(load_default=86400.0, validate=_POSITIVE)


class ObservabilitySchema(ma.Schema):
    log_level = fields.String(load_default="INFO")
    sentry_dsn = fields.String(load_default=None, allow_none=True)


_SECTIONS: Mapping[str, type[ma.Schema]] = MappingProxyType(
    {
        "redis": RedisSchema,
        "delivery": DeliverySchema,
        "producer": ProducerSchema,
        "observability": ObservabilitySchema,
    }
)


@dataclass(frozen=True)
class Settings:
    """Everything tracking_worker is configured with; immutable once built."""

    redis: Mapping[str, Any]
    delivery: Mapping[str, Any]
    producer: Mapping[str, Any]
    observability: Mapping[str, Any]
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Provider sections hold keys and tokens: show only which providers are enabled.
        return (
            f"Settings(redis_url={Redactor(self._own_secrets())(self.redis_url)!r}, "
            f"providers={sorted(self.providers)}, delivery={dict(self.delivery)})"
        )

    @property
    def redis_url(self) -> str:
        return str(self.redis["url"])

    def build_providers(self) -> dict[str, Provider]:
        return {name: REGISTRY[name](conf) for name, conf in self.providers.items()}

    def secrets(self) -> list[str]:
        """Every secret value configured, so logs and Sentry events can be scrubbed."""
        return [s for p in self.build_providers().values() for s in p.secrets] + (
            self._own_secrets()
        )

    def _own_secrets(self) -> list[str]:
        """The Redis password and the Sentry DSN (its key authorises sending events)."""
        found = [urlsplit(self.redis_url).password or ""]
        found.append(str(self.observability.get("sentry_dsn") or ""))
        return [s for s in found if s]


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from every source (see module docstring)."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    path = env.get("TRACKING_CONFIG")
    if path:
        data = _merge(data, _substitute(_read_toml(path), env, ""))
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
    _check_lease(sections["delivery"], providers)
    return Settings(**sections, providers=MappingProxyType(providers))


def _check_lease(delivery: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]) -> None:
    """A lease shorter than one request's worst case would hand a live batch to another worker
    (it is renewed every third of itself, so it must outlast one request with room to spare)."""
    lease = float(delivery["lease_seconds"])
    for name, conf in providers.items():
        worst = float(conf["connect_timeout"]) + float(conf["read_timeout"])
        if worst >= lease:
            raise ConfigurationError(
                f"providers.{name}.read_timeout: connect_timeout + read_timeout ({worst:g}s) "
                f"must be shorter than delivery.lease_seconds ({lease:g}s)"
            )


def _load_providers(raw: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    loaded: dict[str, Mapping[str, Any]] = {}
    for name, section in raw.items():
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigurationError(f"providers.{name}: unknown provider (known: {known})")
        if not isinstance(section, Mapping):
            raise ConfigurationError(f"providers.{name}: must be a table")
        loaded[name] = MappingProxyType(
            _load(REGISTRY[name].schema(), section, f"providers.{name}")
        )
    return loaded


def _load(schema: ma.Schema, section: Any, where: str) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise ConfigurationError(f"{where}: must be a table")
    try:
        result = dict(schema.load(section))
    except ma.ValidationError as exc:
        raise ConfigurationError(_describe(exc.messages, where)) from None
    return result


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
