"""Faults through the Python API: count, duration, Retry-After, dropped connections, latency,
rejection rules and runtime credentials."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from tracking_worker.sandbox import SandboxServer
from tracking_worker.sandbox.faults import make_fault

from .conftest import Post
from .payloads import (
    GIOSG_HEADERS,
    GIOSG_PATH,
    GRAMPIXEL_HEADERS,
    GRAMPIXEL_PATH,
    GRASPIL_HEADERS,
    GRASPIL_PATH,
    GRASPIL_TARGET,
    TGA_HEADERS,
    TGA_PATH,
    VIBETRACE_HEADERS,
    VIBETRACE_PATH,
    giosg_match,
    grampixel_event,
    graspil_item,
    tga_event,
    vibetrace_order,
)

# provider -> (path, headers, a valid body, its success status)
VALID: dict[str, tuple[str, dict[str, str], Any, int]] = {
    "graspil": (GRASPIL_PATH, GRASPIL_HEADERS, graspil_item(), 200),
    "tganalytics": (TGA_PATH, TGA_HEADERS, [tga_event()], 201),
    "grampixel": (GRAMPIXEL_PATH, GRAMPIXEL_HEADERS, grampixel_event(), 200),
    "giosg": (GIOSG_PATH, GIOSG_HEADERS, giosg_match(), 200),
    "vibetrace": (VIBETRACE_PATH, VIBETRACE_HEADERS, vibetrace_order(), 200),
}


def send(post: Post, provider: str, body: Any = None) -> requests.Response:
    path, headers, valid, _ = VALID[provider]
    return post(path, valid if body is None else body, headers)


@pytest.mark.parametrize("provider", sorted(VALID))
def test_a_counted_fault_answers_that_many_requests_then_clears(
    sandbox: SandboxServer, post: Post, provider: str
) -> None:
    sandbox.add_fault(provider, 503, count=2)
    statuses = [send(post, provider).status_code for _ in range(3)]
    assert statuses == [503, 503, VALID[provider][3]]
    assert len(sandbox.received(provider)) == 1
    outcomes = [r["outcome"] for r in sandbox.requests(provider)]
    assert outcomes == ["faulted", "faulted", "accepted"]
    assert sandbox.requests(provider)[0]["body"] == VALID[provider][2]


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("graspil", 401, {"ok": False, "error": {"api_key": ["Invalid API key"]}}),
        ("tganalytics", 429, {"message": "Too many requests. Try again later."}),
        ("grampixel", 401, {"ok": False, "error": "Invalid API key"}),
        ("giosg", 403, {"detail": "You do not have access to the organization."}),
        ("giosg", 404, {"detail": "Goal was not found."}),
        (
            "vibetrace",
            401,
            {"errors": [{"message": "Unauthorized", "description": "Invalid or missing API key"}]},
        ),
        ("graspil", 500, {"error": "sandbox fault 500"}),
    ],
)
def test_a_fault_body_defaults_to_the_documented_one(
    sandbox: SandboxServer, post: Post, provider: str, status: int, body: Any
) -> None:
    sandbox.add_fault(provider, status, count=1)
    response = send(post, provider)
    assert (response.status_code, response.json()) == (status, body)


def test_a_fault_may_carry_its_own_body_and_headers(sandbox: SandboxServer, post: Post) -> None:
    sandbox.add_fault("graspil", 502, {"custom": True}, count=1, headers={"X-Fault": "yes"})
    response = send(post, "graspil")
    assert (response.status_code, response.json()) == (502, {"custom": True})
    assert response.headers["X-Fault"] == "yes"


@pytest.mark.parametrize("retry_after", [7, "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_retry_after_is_sent_when_given(
    sandbox: SandboxServer, post: Post, retry_after: int | str
) -> None:
    sandbox.add_fault("tganalytics", 429, count=1, retry_after=retry_after)
    response = send(post, "tganalytics")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(retry_after)


def test_without_retry_after_no_header_is_sent(sandbox: SandboxServer, post: Post) -> None:
    sandbox.add_fault("tganalytics", 429, count=1)
    assert "Retry-After" not in send(post, "tganalytics").headers


def test_a_fault_with_a_duration_answers_every_request_until_it_ends(
    sandbox: SandboxServer, post: Post
) -> None:
    sandbox.add_fault("grampixel", 500, duration=60)
    assert [send(post, "grampixel").status_code for _ in range(4)] == [500] * 4
    assert sandbox.received("grampixel") == []


def test_a_duration_fault_is_inactive_after_its_deadline() -> None:
    fault = make_fault(500, None, duration=2)
    now = time.monotonic()
    assert fault.active(now)
    assert not fault.active(now + 2.5)


def test_faults_queue_up_in_order(sandbox: SandboxServer, post: Post) -> None:
    sandbox.add_fault("graspil", 429, count=2)
    sandbox.add_fault("graspil", 500, count=1)
    statuses = [send(post, "graspil").status_code for _ in range(4)]
    assert statuses == [429, 429, 500, 200]


def test_clear_faults_removes_them(sandbox: SandboxServer, post: Post) -> None:
    sandbox.add_fault("graspil", 500)
    sandbox.clear_faults("graspil")
    assert send(post, "graspil").status_code == 200


def test_status_0_drops_the_connection_without_an_answer(
    sandbox: SandboxServer, post: Post
) -> None:
    sandbox.add_fault("giosg", 0, count=1)
    with pytest.raises(requests.ConnectionError):
        send(post, "giosg")
    assert send(post, "giosg").status_code == 200
    first, second = sandbox.requests("giosg")
    assert (first["status"], first["outcome"]) == (0, "dropped")
    assert second["outcome"] == "accepted"
    assert len(sandbox.received("giosg")) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 99},
        {"status": 600},
        {"status": "500"},
        {"status": 500, "count": 0},
        {"status": 500, "duration": -1},
        {"status": 500, "retry_after": 1.5},
    ],
)
def test_bad_fault_arguments_are_refused(sandbox: SandboxServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sandbox.add_fault("graspil", **kwargs)


def test_latency_delays_answers_of_that_provider_only(sandbox: SandboxServer) -> None:
    sandbox.set_latency("graspil", 0.4)
    results: dict[str, float] = {}

    def timed(name: str, provider: str) -> None:
        path, headers, body, _ = VALID[provider]
        start = time.perf_counter()
        requests.post(sandbox.url + path, json=body, headers=headers, timeout=5)
        results[name] = time.perf_counter() - start

    slow = threading.Thread(target=timed, args=("slow", "graspil"))
    slow.start()
    timed("fast", "tganalytics")
    slow.join()
    assert results["slow"] >= 0.4
    assert results["fast"] < 0.4


def test_latency_0_clears_it(sandbox: SandboxServer, post: Post) -> None:
    sandbox.set_latency("graspil", 5)
    sandbox.set_latency("graspil", 0)
    start = time.perf_counter()
    send(post, "graspil")
    assert time.perf_counter() - start < 2


# provider -> (field, matching value, body holding it, expected status, expected body)
REJECTIONS: dict[str, tuple[str, Any, Any, int, Any]] = {
    "graspil": (
        "user_id",
        13,
        [graspil_item(), graspil_item(user_id=13)],
        400,
        {"ok": False, "error": {"user_id": ["The user with this id was not found"]}},
    ),
    "tganalytics": (
        "user_id",
        13,
        [tga_event(), tga_event(user_id=13)],
        400,
        {
            "status": 400,
            "message": "VALIDATION_MISMATCH_REPORT",
            "errors": [{"index": 1, "property": "user_id", "message": "user_id was rejected"}],
        },
    ),
    "grampixel": (
        "telegram_id",
        13,
        grampixel_event(telegram_id=13),
        400,
        {"ok": False, "error": "telegram_id was rejected"},
    ),
    "giosg": (
        "visitor_identity",
        "v-13",
        giosg_match(visitor_identity="v-13"),
        404,
        {"detail": "No session is found for 'visitor_identity'."},
    ),
    "vibetrace": (
        "user.email",
        "13@example.test",
        vibetrace_order(email="13@example.test"),
        400,
        {
            "errors": [
                {
                    "message": "User not found",
                    "description": "Note that user must exist in the database beforehand",
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("provider", sorted(REJECTIONS))
def test_reject_matching_fails_the_whole_request_with_the_documented_error(
    sandbox: SandboxServer, post: Post, provider: str
) -> None:
    field, value, body, status, expected = REJECTIONS[provider]
    sandbox.reject_matching(provider, field, value)
    response = send(post, provider, body)
    assert (response.status_code, response.json()) == (status, expected)
    assert sandbox.received(provider) == []
    assert send(post, provider).status_code == VALID[provider][3]


@pytest.mark.parametrize(
    ("provider", "field", "value", "body", "status", "expected"),
    [
        (
            "graspil",
            "target_id",
            GRASPIL_TARGET,
            graspil_item(),
            400,
            {"ok": False, "error": {"target_id": ["Unknown target_id"]}},
        ),
        (
            "graspil",
            "user_id",
            5842703839,
            graspil_item(),
            400,
            {"ok": False, "error": {"user_id": ["gone"]}},
        ),
        ("giosg", "rooms", giosg_match()["rooms"], giosg_match(), 404, {"detail": "gone"}),
        ("giosg", "goal_value", "123.45", giosg_match(), 400, {"goal_value": ["gone"]}),
        (
            "vibetrace",
            "event.confirmation.generic.orderId",
            "order-1",
            vibetrace_order(),
            400,
            {
                "errors": [
                    {
                        "message": "gone",
                        "description": "event.confirmation.generic.orderId was rejected",
                    }
                ]
            },
        ),
    ],
)
def test_reject_matching_messages(
    sandbox: SandboxServer,
    post: Post,
    provider: str,
    field: str,
    value: Any,
    body: Any,
    status: int,
    expected: Any,
) -> None:
    message = None if field == "target_id" else "gone"
    sandbox.reject_matching(provider, field, value, message)
    response = send(post, provider, body)
    assert (response.status_code, response.json()) == (status, expected)


def test_set_credentials_revokes_a_key_until_reset(sandbox: SandboxServer, post: Post) -> None:
    sandbox.set_credentials("graspil", api_key="rotated")
    assert send(post, "graspil").status_code == 401
    assert post(GRASPIL_PATH, graspil_item(), {"Api-Key": "rotated"}).status_code == 200
    sandbox.reset()
    assert send(post, "graspil").status_code == 200


def test_set_credentials_refuses_unknown_providers_and_settings(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="unknown graspil setting"):
        sandbox.set_credentials("graspil", apikey="typo")
    with pytest.raises(ValueError, match="unknown provider"):
        sandbox.set_credentials("segment", api_key="k")
