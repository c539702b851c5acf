"""The keys and provider settings the sandbox accepts, and how overrides are merged into them.

The defaults are each emulator's ``default_credentials``; see ``registry``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .registry import default_credentials, provider_names

Credentials = dict[str, dict[str, Any]]


def merge_credentials(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Credentials:
    """A fresh copy of the defaults with ``overrides`` merged per provider."""
    merged = default_credentials()
    for provider, values in (overrides or {}).items():
        apply_overrides(merged, provider, values)
    return merged


def apply_overrides(credentials: Credentials, provider: str, values: Mapping[str, Any]) -> None:
    """Update one provider's settings in place; unknown providers or keys are typos, so refuse."""
    check_provider(provider)
    unknown = sorted(set(values) - set(credentials[provider]))
    if unknown:
        raise ValueError(f"unknown {provider} setting(s): {', '.join(unknown)}")
    credentials[provider].update(copy.deepcopy(dict(values)))


def check_provider(provider: object) -> str:
    """Return ``provider`` if the sandbox emulates it, else raise ``ValueError``."""
    names = provider_names()
    if not isinstance(provider, str) or provider not in names:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(names)}")
    return provider
