"""The sandbox without HTTP: the Python API tests use, and the entry point the server calls."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .base import Reply
from .control import handle_control
from .credentials import check_provider, merge_credentials
from .faults import Fault, Rule, latency_seconds, make_fault
from .peers import Client
from .pipeline import Pipeline
from .routes import default_router
from .state import Record, SandboxState


class Sandbox:
    """Emulated provider APIs plus recording and fault injection, all thread-safe.

    ``credentials`` overrides ``DEFAULT_CREDENTIALS`` per provider (merged key by key).
    """

    def __init__(
        self,
        credentials: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        max_records: int = 100_000,
    ) -> None:
        self._router = default_router()
        self._state = SandboxState(merge_credentials(credentials), max_records)
        # Set when the server stops, so injected latency never holds up a shutdown.
        self._stopping = threading.Event()
        self._pipeline = Pipeline(self._state, self._router, self._stopping.wait)

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        raw: bytes,
        *,
        client: Client | None = None,
    ) -> Reply:
        """Answer one HTTP request (``target`` is the request line's path and query) from
        ``client`` (None: not over a connection)."""
        path, _, query = target.partition("?")
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            return handle_control(self, method, path, query, raw)
        return self._pipeline.run(method, path, query, headers, raw, client=client)

    def requests(self, provider: str | None = None) -> list[Record]:
        """Every request received (all providers, or one), oldest first."""
        return self._state.requests(None if provider is None else check_provider(provider))

    def received(self, provider: str) -> list[Any]:
        """The items ``provider`` accepted with a 2xx answer, oldest first."""
        return self._state.received(check_provider(provider))

    def reset(self) -> None:
        """Forget records, faults, latency, rules and dedupe keys; restore initial credentials."""
        self._state.reset()

    def add_fault(
        self,
        provider: str,
        status: int,
        body: Any = None,
        *,
        count: int | None = None,
        duration: float | None = None,
        retry_after: int | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``count`` requests (or all for ``duration`` s) with ``status``.

        ``body`` defaults to the provider's documented body for that status. Status 0 closes the
        connection without answering. Faults queue up: the first still active one is used.
        """
        emulator = self._router.emulator(check_provider(provider))
        if body is None and status != 0:
            body = emulator.documented_body(status) or {"error": f"sandbox fault {status}"}
        fault = make_fault(
            status, body, count=count, duration=duration, retry_after=retry_after, headers=headers
        )
        self._state.add_fault(provider, fault)
        return fault

    def clear_faults(self, provider: str | None = None) -> None:
        self._state.clear_faults(None if provider is None else check_provider(provider))

    def set_latency(self, provider: str, seconds: float) -> None:
        """Delay every answer of ``provider`` by ``seconds`` (0 to clear, at most 600)."""
        self._state.set_latency(check_provider(provider), latency_seconds(seconds))

    def reject_matching(
        self, provider: str, field: str, value: Any, message: str | None = None
    ) -> None:
        """Fail any request holding an item whose ``field`` (dotted) equals ``value``."""
        if not isinstance(field, str) or not field:
            raise ValueError("field must be a non-empty string such as 'user_id' or 'user.email'")
        if message is not None and not isinstance(message, str):
            raise ValueError("message must be a string")
        self._state.add_rule(check_provider(provider), Rule(field, value, message))

    def set_credentials(self, provider: str, **overrides: Any) -> None:
        """Change ``provider``'s valid key or settings at runtime (e.g. to revoke a key)."""
        self._state.set_credentials(check_provider(provider), overrides)

    def credentials(self, provider: str | None = None) -> dict[str, Any]:
        """The current settings (all providers, or one)."""
        return self._state.credentials(None if provider is None else check_provider(provider))
