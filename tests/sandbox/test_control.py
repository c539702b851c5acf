"""The control HTTP API under /_sandbox/: the same faults and records as the Python API."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tracking_worker.sandbox import DEFAULT_CREDENTIALS, SandboxServer

from .conftest import Control, Post
from .payloads import (
    GIOSG_HEADERS,
    GIOSG_PATH,
    GRASPIL_HEADERS,
    GRASPIL_PATH,
    TGA_HEADERS,
    TGA_PATH,
    giosg_match,
    graspil_item,
    tga_event,
)


def test_health(control: Control) -> None:
    assert control("GET", "health") == (200, {"ok": True})


def test_a_fault_round_trip(control: Control, post: Post) -> None:
    spec = {"provider": "tganalytics", "status": 429, "count": 1, "retry_after": 3}
    status, body = control("POST", "faults", spec)
    assert status == 200
    assert body["fault"]["status"] == 429
    assert body["fault"]["body"] == {"message": "Too many requests. Try again later."}
    assert body["fault"]["count"] == 1
    response = post(TGA_PATH, [tga_event()], TGA_HEADERS)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert post(TGA_PATH, [tga_event()], TGA_HEADERS).status_code == 201


def test_a_fault_with_body_headers_and_duration(control: Control, post: Post) -> None:
    spec = {
        "provider": "graspil",
        "status": 500,
        "body": {"boom": 1},
        "duration": 30,
        "headers": {"X-Why": "test"},
    }
    assert control("POST", "faults", spec)[0] == 200
    for _ in range(2):
        response = post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
        assert (response.status_code, response.json()) == (500, {"boom": 1})
        assert response.headers["X-Why"] == "test"


def test_a_status_0_fault_drops_the_connection(control: Control, post: Post) -> None:
    control("POST", "faults", {"provider": "graspil", "status": 0, "count": 1})
    with pytest.raises(requests.ConnectionError):
        post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    assert post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS).status_code == 200


def test_latency(control: Control, post: Post) -> None:
    assert control("POST", "latency", {"provider": "graspil", "seconds": 0.3}) == (
        200,
        {"ok": True},
    )
    start = time.perf_counter()
    post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    assert time.perf_counter() - start >= 0.3


def test_reject(control: Control, post: Post) -> None:
    rule = {"provider": "giosg", "field": "visitor_identity", "value": "v-1", "message": "none"}
    assert control("POST", "reject", rule) == (200, {"ok": True})
    response = post(GIOSG_PATH, giosg_match(visitor_identity="v-1"), GIOSG_HEADERS)
    assert (response.status_code, response.json()) == (404, {"detail": "none"})


def test_credentials_can_be_read_and_changed(control: Control, post: Post) -> None:
    status, body = control("GET", "credentials")
    assert (status, body["credentials"]) == (200, DEFAULT_CREDENTIALS)
    status, body = control("POST", "credentials", {"provider": "graspil", "api_key": "new"})
    changed = {**DEFAULT_CREDENTIALS["graspil"], "api_key": "new"}
    assert (status, body["credentials"]) == (200, changed)
    assert post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS).status_code == 401
    assert control("GET", "credentials", provider="graspil")[1]["credentials"] == changed


def test_requests_and_received_round_trip(control: Control, post: Post) -> None:
    post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    post(GRASPIL_PATH, graspil_item(user_id="bad"), GRASPIL_HEADERS)
    post(TGA_PATH, [tga_event()], TGA_HEADERS)
    status, body = control("GET", "requests", provider="graspil")
    assert status == 200
    assert [r["status"] for r in body["requests"]] == [200, 400]
    assert body["requests"][0]["headers"]["Api-Key"] == GRASPIL_HEADERS["Api-Key"]
    assert len(control("GET", "requests")[1]["requests"]) == 3
    assert control("GET", "received", provider="graspil") == (
        200,
        {"ok": True, "received": [graspil_item()]},
    )


def test_reset_clears_records_faults_and_rules(control: Control, post: Post) -> None:
    post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    control("POST", "faults", {"provider": "graspil", "status": 500})
    control("POST", "reject", {"provider": "graspil", "field": "user_id", "value": 5842703839})
    assert control("POST", "reset") == (200, {"ok": True})
    assert control("GET", "requests")[1]["requests"] == []
    assert post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS).status_code == 200


@pytest.mark.parametrize(
    ("method", "name", "payload", "status", "error"),
    [
        (
            "POST",
            "faults",
            {"provider": "segment", "status": 500},
            400,
            "unknown provider 'segment'",
        ),
        ("POST", "faults", {"provider": "graspil"}, 400, "missing field(s): ['status']"),
        (
            "POST",
            "faults",
            {"provider": "graspil", "status": 500, "times": 2},
            400,
            "unknown field(s): ['times']",
        ),
        (
            "POST",
            "faults",
            {"provider": "graspil", "status": 700},
            400,
            "status must be 0 or an HTTP",
        ),
        (
            "POST",
            "latency",
            {"provider": "graspil", "seconds": -1},
            400,
            "seconds must be a number",
        ),
        ("POST", "reject", {"provider": "graspil", "field": "", "value": 1}, 400, "field must be"),
        (
            "POST",
            "credentials",
            {"provider": "graspil", "key": "x"},
            400,
            "unknown graspil setting",
        ),
        ("POST", "credentials", {"api_key": "x"}, 400, "missing field 'provider'"),
        ("GET", "received", None, 400, "missing field 'provider'"),
        ("GET", "faults", None, 405, "use POST"),
        ("POST", "nothing", {}, 404, "no control endpoint /_sandbox/nothing"),
    ],
)
def test_bad_calls_are_refused_with_a_reason(
    control: Control, method: str, name: str, payload: Any, status: int, error: str
) -> None:
    got_status, body = control(method, name, payload)
    assert (got_status, body["ok"]) == (status, False)
    assert error in body["error"]


def test_a_non_object_or_invalid_json_body_is_400(sandbox: SandboxServer) -> None:
    for data in (b"[1]", b"{oops"):
        response = requests.post(f"{sandbox.url}/_sandbox/faults", data=data, timeout=5)
        assert response.status_code == 400
        assert response.json()["ok"] is False


def test_control_calls_are_not_recorded(control: Control, sandbox: SandboxServer) -> None:
    control("GET", "health")
    assert sandbox.requests() == []
