"""Fixtures for the sandbox tests: one real server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tracking_worker.events import Event
from tracking_worker.outcomes import Outcome
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.sandbox import SandboxServer, provider_settings

Post = Callable[..., requests.Response]
#: ``deliver(provider, event)`` -> (the adapter's outcome, the sandbox's answer text)
Deliver = Callable[[str, Event], tuple[Outcome, str]]
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


@pytest.fixture
def deliver(sandbox: SandboxServer, http: requests.Session) -> Deliver:
    """Send ``event`` as the real adapter renders it, configured by ``provider_settings`` for
    the sandbox's current credentials, and classify the answer as the worker would."""

    def send(provider: str, event: Event) -> tuple[Outcome, str]:
        adapter_class = REGISTRY[provider]
        section = provider_settings(sandbox.url, sandbox.credentials())[provider]
        adapter = adapter_class(adapter_class.schema().load(section))
        assert adapter.skip_reason(event) is None
        request = adapter.build_request([event])
        response = http.request(
            request.method, request.url, headers=dict(request.headers), json=request.body, timeout=5
        )
        answer = HttpResponse(response.status_code, response.text, dict(response.headers))
        return adapter.classify(answer), response.text

    return send
