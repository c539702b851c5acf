"""A local HTTP server emulating the tracking providers' APIs, for tests and demos.

Every provider's ``base_url`` points at ``SandboxServer.url``; the server validates keys and
bodies like the provider, answers with the documented bodies, records what it got and takes
faults (``add_fault``, ``set_latency``, ``reject_matching``) from Python or from ``/_sandbox/``.
"""

from __future__ import annotations

from .credentials import DEFAULT_CREDENTIALS, PROVIDERS
from .faults import Fault
from .server import SandboxServer

__all__ = ["DEFAULT_CREDENTIALS", "PROVIDERS", "Fault", "SandboxServer"]
