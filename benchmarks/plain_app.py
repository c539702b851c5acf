"""System A: a plain Celery app, one task per event, each posting it with ``requests``.

What a team writes without this library: ``send_graspil.delay(payload)`` from the view, a
worker that posts it over a pooled Session per process and retries network errors.

    celery -A benchmarks.plain_app worker   (from the repository root; BENCH_* variables set)
"""

from __future__ import annotations

from typing import Any

import requests
from celery import Celery

from benchmarks.payloads import broker_url, post_grampixel, post_graspil

app = Celery("bench_plain", broker=broker_url(), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)

RETRY: dict[str, Any] = {
    "autoretry_for": (requests.RequestException,),
    "retry_backoff": True,
    "max_retries": 10,
}


@app.task(name="bench.plain.graspil", **RETRY)
def send_graspil(item: dict[str, Any]) -> None:
    """One event, one Graspil request."""
    post_graspil(item)


@app.task(name="bench.plain.grampixel", **RETRY)
def send_grampixel(body: dict[str, Any]) -> None:
    """One event, one GramPixel request."""
    post_grampixel(body)


TASKS = {"graspil": send_graspil, "grampixel": send_grampixel}
