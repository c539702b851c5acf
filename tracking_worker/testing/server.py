"""``sandbox()``: the providers' emulated APIs on a local port, with settings pointed at them,
for tests that deliver for real (``Tracked.deliver``, a worker of your own)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..settings import Settings, build_settings

if TYPE_CHECKING:
    from ..sandbox import Fault, SandboxServer


class TrackingSandbox:
    """A running sandbox: its URL, every provider's settings pointed at it with the keys it
    accepts, and its control API (what it received, faults, latency; ``server`` has the
    rest, and ``/_sandbox/`` serves the same over HTTP)."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def providers(self) -> dict[str, dict[str, Any]]:
        """Every provider's settings section, pointed here with the credentials the sandbox
        accepts now (``TRACKING_WORKER["providers"]``, ``configure(providers=...)``)."""
        from ..sandbox import provider_settings

        return provider_settings(self.url, self.server.credentials())

    def config(self, **sections: Mapping[str, Any]) -> dict[str, Any]:
        """A whole configuration (as a TOML file or ``TRACKING_WORKER`` holds it): every
        provider pointed here, and ``sections`` (``redis={"url": ...}``, ``delivery``...)."""
        return {
            **{name: dict(values) for name, values in sections.items()},
            "providers": self.providers,
        }

    @property
    def settings(self) -> Settings:
        """Settings with every provider pointed here (the other sections at their defaults)."""
        return build_settings({"providers": self.providers})

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Every request received (all providers, or one), oldest first."""
        return self.server.requests(provider)

    def received(self, provider: str) -> list[Any]:
        """The items ``provider`` accepted (a 2xx answer), oldest first."""
        return self.server.received(provider)

    def add_fault(self, provider: str, status: int, body: Any = None, **options: Any) -> Fault:
        """Answer ``provider``'s next requests with ``status`` (``count=``, ``duration=``,
        ``retry_after=``, ``headers=``; status 0 drops the connection)."""
        return self.server.add_fault(provider, status, body, **options)

    def set_latency(self, provider: str, seconds: float) -> None:
        self.server.set_latency(provider, seconds)

    def reject_matching(
        self, provider: str, field: str, value: Any, message: str | None = None
    ) -> None:
        """Refuse any item whose ``field`` (dotted) equals ``value``, as the provider would."""
        self.server.reject_matching(provider, field, value, message)

    def reset(self) -> None:
        """Forget records, faults and latency; restore the initial credentials."""
        self.server.reset()


@contextlib.contextmanager
def sandbox(
    credentials: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[TrackingSandbox]:
    """A sandbox on a free local port while entered (``credentials`` overrides its keys per
    provider, as ``SandboxServer`` takes them)."""
    from ..sandbox import SandboxServer

    with SandboxServer(credentials=credentials) as server:
        yield TrackingSandbox(server)
