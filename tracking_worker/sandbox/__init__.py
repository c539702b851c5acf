"""A local HTTP server emulating the tracking providers' APIs, for tests and demos.

Every provider's ``base_url`` points at ``SandboxServer.url`` (``provider_settings`` gives the
whole settings); the server validates keys and bodies like the provider, answers with the
documented bodies, records what it got and takes faults (``add_fault``, ``set_latency``,
``reject_matching``) from Python or from ``/_sandbox/``.

Each provider is one module here declaring an ``Emulator`` subclass; ``registry`` finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .credentials import merge_credentials
from .faults import Fault
from .registry import default_credentials, emulator_classes, provider_names
from .server import SandboxServer

#: The providers the sandbox emulates, in order.
PROVIDERS: Final[tuple[str, ...]] = provider_names()

#: The keys and settings each provider accepts unless overridden. A constant: servers copy it.
DEFAULT_CREDENTIALS: Final[Mapping[str, Mapping[str, Any]]] = default_credentials()


def provider_settings(
    base_url: str, credentials: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every provider's settings section for the worker, pointed at the sandbox at ``base_url``.

    ``credentials`` overrides ``DEFAULT_CREDENTIALS`` per provider, key by key, as
    ``SandboxServer(credentials=...)`` does, so the settings carry keys that server accepts.
    """
    merged = merge_credentials(credentials)
    return {
        cls.name: cls().provider_settings(base_url, merged[cls.name]) for cls in emulator_classes()
    }


__all__ = ["DEFAULT_CREDENTIALS", "PROVIDERS", "Fault", "SandboxServer", "provider_settings"]
