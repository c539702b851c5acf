"""Fixtures for the sandbox tests: one real server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tracking_worker.sandbox import SandboxServer

Post = Callable[..., requests.Response]
#: ``control(method, name, json=None, **params)`` -> (status, decoded JSON body)
Control = Callable[..., tuple[int, Any]]


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


@pytest.fixture
def control(sandbox: SandboxServer, http: requests.Session) -> Control:
    """Call the control API under ``/_sandbox/``; every answer must be JSON."""

    def call(method: str, name: str, json: Any = None, **params: str) -> tuple[int, Any]:
        url = f"{sandbox.url}/_sandbox/{name}"
        response = http.request(method, url, json=json, params=params, timeout=5)
        return response.status_code, response.json()

    return call
