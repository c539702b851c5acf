"""Fixtures for the sandbox tests: one real server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tracking_worker.sandbox import SandboxServer

Post = Callable[..., requests.Response]


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(_shared_server: SandboxServer) -> SandboxServer:
    """The running sandbox with nothing recorded and no faults."""
    _shared_server.reset()
    return _shared_server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive session, like the worker's."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def post(sandbox: SandboxServer, http: requests.Session) -> Post:
    """``post(path, body, headers)``: send ``body`` as JSON (or bytes as they are)."""

    def send(
        path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        if isinstance(body, bytes):
            return http.post(sandbox.url + path, data=body, headers=headers, timeout=5)
        return http.post(sandbox.url + path, json=body, headers=headers, timeout=5)

    return send
