"""What every provider emulator declares, receives and returns, so the sandbox treats them alike.

An emulator is a subclass of ``Emulator`` in a module of this package that declares a ``name``:
the registry finds it there, so adding a provider touches no list anywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Incoming:
    """One request as an emulator sees it: header names lower-cased, body already parsed."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any = None
    body_error: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """An answer to send; ``items`` are what a 2xx answer accepts, ``status`` 0 drops the line.

    ``dedupe_key`` lets a provider say "accept, but only once per key" (VibeTrace orderId).
    """

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    items: list[Any] = field(default_factory=list)
    dedupe_key: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Emulator(ABC):
    """A provider's API: validate like the provider would and answer with its documented bodies.

    Subclasses declare what they are as class attributes; one without ``name`` is not registered.
    """

    #: Provider name, as in the worker's settings (``[providers.<name>]``) and the control API.
    name: ClassVar[str]
    #: Where the provider comes in ``PROVIDERS`` (lower first; ties by name).
    order: ClassVar[int] = 1000
    #: The real API paths it serves: regular expressions matched against the whole path; named
    #: groups become ``Incoming.params``.
    routes: ClassVar[tuple[str, ...]] = ()
    #: The keys and settings it accepts until overridden (``SandboxServer(credentials=...)``).
    default_credentials: ClassVar[Mapping[str, Any]] = {}

    @abstractmethod
    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        """Answer ``request`` given the provider's current settings (keys, ids)."""

    @abstractmethod
    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        """The provider's validation error for ``field`` of item ``index`` (reject_matching)."""

    def documented_body(self, status: int) -> dict[str, Any] | None:
        """The body the provider documents for ``status``, if any (default fault bodies)."""
        return None

    @abstractmethod
    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """The worker's settings section for this provider, pointed at ``base_url`` with
        ``credentials`` (this emulator's), so a demo or a test delivers to the sandbox."""
