"""What every provider emulator receives and returns, so the pipeline can treat them alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


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


class Emulator(Protocol):
    """A provider's API: validate like the provider would and answer with its documented bodies."""

    @property
    def name(self) -> str: ...

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        """Answer ``request`` given the provider's current settings (keys, ids)."""
        ...

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        """The provider's validation error for ``field`` of item ``index`` (reject_matching)."""
        ...

    def documented_body(self, status: int) -> dict[str, Any] | None:
        """The body the provider documents for ``status``, if any (default fault bodies)."""
        ...
