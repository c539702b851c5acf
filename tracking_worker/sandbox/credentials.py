"""The keys and provider settings the sandbox accepts, and how overrides are merged into them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

PROVIDERS: Final = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")

# A constant: servers deep-copy it, nothing ever writes to it.
DEFAULT_CREDENTIALS: Final[Mapping[str, Mapping[str, Any]]] = {
    "graspil": {"api_key": "sandbox-graspil-key"},
    "tganalytics": {
        "token": "sandbox-tga-token",
        "app_name": "sandbox-app",
        "app_domain": "app.example.test",
    },
    "grampixel": {
        "api_key": "sandbox-grampixel-key",
        "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90",
    },
    "giosg": {
        "token": "sandbox-giosg-token",
        "organization_id": "ac83d426-be80-4d75-8c62-49a77f98468e",
        "goals": ["4d0648b8-9074-11e6-963e-f45c89c72de3", "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f"],
        "unknown_visitors": ["unknown-visitor"],
    },
    "vibetrace": {
        "api_key": "sandbox-vibetrace-key",
        "unknown_users": ["unknown@example.test"],
    },
}

Credentials = dict[str, dict[str, Any]]


def merge_credentials(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Credentials:
    """A fresh copy of the defaults with ``overrides`` merged per provider."""
    merged: Credentials = {name: copy.deepcopy(dict(v)) for name, v in DEFAULT_CREDENTIALS.items()}
    for provider, values in (overrides or {}).items():
        apply_overrides(merged, provider, values)
    return merged


def apply_overrides(credentials: Credentials, provider: str, values: Mapping[str, Any]) -> None:
    """Update one provider's settings in place; unknown providers or keys are typos, so refuse."""
    check_provider(provider)
    unknown = sorted(set(values) - set(DEFAULT_CREDENTIALS[provider]))
    if unknown:
        raise ValueError(f"unknown {provider} setting(s): {', '.join(unknown)}")
    credentials[provider].update(copy.deepcopy(dict(values)))


def check_provider(provider: object) -> str:
    """Return ``provider`` if the sandbox emulates it, else raise ``ValueError``."""
    if not isinstance(provider, str) or provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    return provider
