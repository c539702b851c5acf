"""What systems A and B send: the provider payloads a hand-written integration builds from an
event at enqueue time, and a pooled ``requests.Session`` per process to post them with."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tracking_worker.sandbox import DEFAULT_CREDENTIALS


def provider_url() -> str:
    """Where the workers of A and B post (the provider fake); set by the harness."""
    return os.environ.get("BENCH_PROVIDER_URL", "http://127.0.0.1:8766")


def broker_url() -> str:
    """The broker of A and B; set by the harness."""
    return os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")


#: Event name -> Graspil target_id and -> GramPixel event name (ours is given the same).
TARGETS = {"purchase": 12}
GRAMPIXEL_EVENTS = {"purchase": "Purchase"}
TIMEOUT = (3.05, 10.0)

_session: requests.Session | None = None
_session_pid = 0


def session() -> requests.Session:
    """This process's pooled Session (made again after a prefork fork)."""
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        _session = requests.Session()
        _session.mount("http://", HTTPAdapter(pool_maxsize=16, max_retries=0))
        _session_pid = os.getpid()
    return _session


def graspil_payload(event: dict[str, Any]) -> dict[str, Any]:
    """Graspil's send-target item for ``event``."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    item: dict[str, Any] = {
        "target_id": TARGETS[event["name"]],
        "user_id": event["telegram_id"],
        "date": now,
    }
    if "value" in event:
        item.update(value=event["value"], unit=event["currency"])
    return item


def grampixel_payload(event: dict[str, Any]) -> dict[str, Any]:
    """GramPixel's custom-event body for ``event``."""
    body: dict[str, Any] = {
        "event_name": GRAMPIXEL_EVENTS.get(event["name"], event["name"]),
        "telegram_id": event["telegram_id"],
        "workspace_id": DEFAULT_CREDENTIALS["grampixel"]["workspace_id"],
    }
    if "value" in event:
        body.update(value=event["value"], currency=event["currency"])
    return body


PAYLOADS = {"graspil": graspil_payload, "grampixel": grampixel_payload}


def post_graspil(items: list[dict[str, Any]] | dict[str, Any]) -> None:
    """One Graspil request (one item or an array of up to 100); raises unless ``ok``."""
    answer = session().post(
        f"{provider_url()}/v1/send-target",
        json=items,
        headers={"Api-Key": DEFAULT_CREDENTIALS["graspil"]["api_key"]},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    if answer.json().get("ok") is not True:
        raise RuntimeError(f"graspil refused: {answer.text[:200]}")


def post_grampixel(body: dict[str, Any]) -> None:
    """One GramPixel request; raises unless ``ok``."""
    answer = session().post(
        f"{provider_url()}/v1/events/custom",
        json=body,
        headers={"x-api-key": DEFAULT_CREDENTIALS["grampixel"]["api_key"]},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    if answer.json().get("ok") is not True:
        raise RuntimeError(f"grampixel refused: {answer.text[:200]}")
