"""Hostile input to the control API and the provider APIs does no harm: no header injection, no
unbounded latency, and a deeply nested or malformed body is a 400 with a JSON answer, never a
dropped connection or a traceback."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tracking_worker.sandbox import PROVIDERS, SandboxServer

from .conftest import Control, Post
from .payloads import (
    GIOSG_HEADERS,
    GIOSG_PATH,
    GRAMPIXEL_HEADERS,
    GRAMPIXEL_PATH,
    GRASPIL_HEADERS,
    GRASPIL_PATH,
    TGA_HEADERS,
    TGA_PATH,
    VIBETRACE_HEADERS,
    VIBETRACE_PATH,
    graspil_item,
)

ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "graspil": (GRASPIL_PATH, GRASPIL_HEADERS),
    "tganalytics": (TGA_PATH, TGA_HEADERS),
    "grampixel": (GRAMPIXEL_PATH, GRAMPIXEL_HEADERS),
    "giosg": (GIOSG_PATH, GIOSG_HEADERS),
    "vibetrace": (VIBETRACE_PATH, VIBETRACE_HEADERS),
}
VERY_DEEP = b"[" * 100_000
FAULT_WITH_BODY = b'{"provider": "graspil", "status": 500, "body": '


def nested(depth: int) -> bytes:
    """Well-formed JSON: arrays ``depth`` deep."""
    return b"[" * depth + b"]" * depth


Errors = Callable[[], list[logging.LogRecord]]


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> Errors:
    """``errors_logged()``: what the sandbox logged as errors so far, from any thread."""

    def errors() -> list[logging.LogRecord]:
        return [
            record
            for record in caplog.records
            if record.levelno >= logging.ERROR and record.name.startswith("tracking_worker.sandbox")
        ]

    return errors


def answers_normally(post: Post) -> bool:
    """True if a valid Graspil request is answered as usual: no fault is left queued."""
    response = post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    return response.status_code == 200 and "X-Injected" not in response.headers


# (fault arguments, the field the refusal must name)
BAD_FAULT_HEADERS = [
    pytest.param({"headers": {"X-Why": "a\r\nX-Injected: 1"}}, "headers", id="CRLF-in-value"),
    pytest.param({"headers": {"X-Why": "a\nX-Injected: 1"}}, "headers", id="LF-in-value"),
    pytest.param({"headers": {"X-Why": "a\rX-Injected: 1"}}, "headers", id="CR-in-value"),
    pytest.param({"headers": {"X-Injected: 1\r\nX-Why": "a"}}, "headers", id="CRLF-in-name"),
    pytest.param({"headers": {"X-Why": "price in \u20ac"}}, "headers", id="non-latin1-value"),
    pytest.param({"headers": {"X-\u20ac": "1"}}, "headers", id="non-latin1-name"),
    pytest.param({"headers": {"Content-Length": "0"}}, "headers", id="framing-header"),
    pytest.param({"headers": ["X-Injected: 1"]}, "headers", id="not-an-object"),
    pytest.param({"retry_after": "5\r\nX-Injected: 1"}, "retry_after", id="CRLF-in-retry-after"),
    pytest.param({"retry_after": "in 5 s \u2026"}, "retry_after", id="non-latin1-retry-after"),
]


@pytest.mark.parametrize(("spec", "field"), BAD_FAULT_HEADERS)
def test_fault_headers_that_could_inject_are_refused_over_http(
    control: Control, post: Post, spec: dict[str, Any], field: str
) -> None:
    status, body = control("POST", "faults", {"provider": "graspil", "status": 503, **spec})
    assert (status, body["ok"]) == (400, False)
    assert body["error"].startswith(field), body["error"]
    assert answers_normally(post)


@pytest.mark.parametrize(("spec", "field"), BAD_FAULT_HEADERS)
def test_fault_headers_that_could_inject_are_refused_from_python(
    sandbox: SandboxServer, post: Post, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        sandbox.add_fault("graspil", 503, **spec)
    assert answers_normally(post)


def test_latin1_fault_headers_still_reach_the_client(sandbox: SandboxServer, post: Post) -> None:
    sandbox.add_fault("graspil", 503, count=1, headers={"X-Why": "caf\u00e9"}, retry_after="5")
    response = post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    assert (response.status_code, response.headers["X-Why"]) == (503, "caf\u00e9")
    assert response.headers["Retry-After"] == "5"


def test_a_fault_body_python_cannot_send_as_json_is_refused(
    sandbox: SandboxServer, post: Post
) -> None:
    with pytest.raises(ValueError, match=r"^body must be JSON-serializable"):
        sandbox.add_fault("graspil", 500, {"ids": {1, 2}})
    assert answers_normally(post)


@pytest.mark.parametrize(
    "seconds", [b"600.001", b"1e9", b"-1", b"NaN", b"Infinity", b"-Infinity", b'"5"']
)
def test_latency_out_of_bounds_is_a_400_over_http(
    sandbox: SandboxServer, http: requests.Session, post: Post, seconds: bytes
) -> None:
    data = b'{"provider": "graspil", "seconds": ' + seconds + b"}"
    response = http.post(f"{sandbox.url}/_sandbox/latency", data=data, timeout=5)
    assert (response.status_code, response.json()["ok"]) == (400, False)
    assert response.json()["error"].startswith("seconds must be a number from 0 to 600")
    assert answers_normally(post)


@pytest.mark.parametrize("seconds", [600.001, 1e9, -1, -0.5, math.nan, math.inf, -math.inf, True])
def test_latency_out_of_bounds_raises_from_python(sandbox: SandboxServer, seconds: Any) -> None:
    with pytest.raises(ValueError, match=r"^seconds must be a number from 0 to 600"):
        sandbox.set_latency("graspil", seconds)


def test_latency_of_exactly_600_seconds_is_taken(control: Control, sandbox: SandboxServer) -> None:
    answer = control("POST", "latency", {"provider": "graspil", "seconds": 600})
    assert answer == (200, {"ok": True})
    sandbox.set_latency("graspil", 600.0)
    sandbox.set_latency("graspil", 0)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(VERY_DEEP, id="100000-open-brackets"),
        pytest.param(FAULT_WITH_BODY + VERY_DEEP, id="deep-field"),
        pytest.param(FAULT_WITH_BODY + nested(500) + b"}", id="well-formed-but-500-deep"),
    ],
)
def test_a_deeply_nested_control_body_is_a_400_with_a_json_error(
    sandbox: SandboxServer,
    http: requests.Session,
    post: Post,
    errors_logged: Errors,
    data: bytes,
) -> None:
    response = http.post(f"{sandbox.url}/_sandbox/faults", data=data, timeout=5)
    assert (response.status_code, response.json()["ok"]) == (400, False)
    assert "nested deeper than" in response.json()["error"]
    assert answers_normally(post)
    assert errors_logged() == []


@pytest.mark.parametrize(
    "data", [b"{oops", b'{"provider": "graspil"', b"\xff\xfe{}", b"[1]", b'"faults"', b"{}}"]
)
def test_a_malformed_control_body_is_a_400_with_a_json_error(
    sandbox: SandboxServer,
    http: requests.Session,
    errors_logged: Errors,
    data: bytes,
) -> None:
    response = http.post(f"{sandbox.url}/_sandbox/faults", data=data, timeout=5)
    assert (response.status_code, response.json()["ok"]) == (400, False)
    assert response.json()["error"]
    assert errors_logged() == []


def skeleton(value: Any) -> Any:
    """``value`` with every string blanked: the shape of an answer, whatever its wording."""
    if isinstance(value, dict):
        return {key: skeleton(item) for key, item in value.items()}
    if isinstance(value, list):
        return [skeleton(item) for item in value]
    return "" if isinstance(value, str) else value


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_deeply_nested_provider_body_gets_the_providers_usual_400(
    sandbox: SandboxServer,
    http: requests.Session,
    errors_logged: Errors,
    provider: str,
) -> None:
    path, headers = ENDPOINTS[provider]
    deep = http.post(sandbox.url + path, data=VERY_DEEP, headers=headers, timeout=5)
    malformed = http.post(sandbox.url + path, data=b"{oops", headers=headers, timeout=5)
    assert deep.status_code == malformed.status_code == 400
    assert skeleton(deep.json()) == skeleton(malformed.json())
    record = sandbox.requests(provider)[0]
    assert record["outcome"] == "rejected"
    assert "nested deeper than" in record["body_error"]
    assert errors_logged() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_well_formed_but_deep_provider_body_leaves_the_records_readable(
    sandbox: SandboxServer,
    http: requests.Session,
    control: Control,
    errors_logged: Errors,
    provider: str,
) -> None:
    """Copying or answering a record this deep would overflow Python's stack."""
    path, headers = ENDPOINTS[provider]
    response = http.post(sandbox.url + path, data=nested(500), headers=headers, timeout=5)
    assert response.status_code == 400
    [record] = sandbox.requests(provider)
    assert (record["body"], record["outcome"]) == (None, "rejected")
    assert control("GET", "requests")[0] == 200
    assert errors_logged() == []


def test_a_failure_inside_the_sandbox_answers_500_instead_of_dropping_the_connection(
    sandbox: SandboxServer,
    http: requests.Session,
    monkeypatch: pytest.MonkeyPatch,
    errors_logged: Errors,
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("a sandbox bug")

    monkeypatch.setattr(sandbox, "handle", broken)
    response = http.post(sandbox.url + GRASPIL_PATH, json=graspil_item(), timeout=5)
    assert response.status_code == 500
    assert "error" in response.json()
    assert [r.exc_info is not None for r in errors_logged()] == [True]  # a bug: logged, traced
