"""System B: celery-batches, one message per event, flushed 100 at a time into one task call.

Configured as celery-batches documents: ``worker_prefetch_multiplier = 0`` so the worker's main
process can hold ``flush_every`` messages (it then pulls the whole queue into memory, as the
documentation warns). A Graspil flush is one request of up to 100 events; GramPixel takes one
event per request, so a flush posts them one after another, as a hand-written loop would.

    celery -A benchmarks.batches_app worker   (from the repository root; BENCH_* variables set)
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery_batches import Batches, SimpleRequest

from benchmarks.payloads import broker_url, post_grampixel, post_graspil

FLUSH_EVERY = 100
#: Seconds before a partial buffer is flushed anyway (ours: ``flush_interval``, set the same).
FLUSH_INTERVAL = 1.0

app = Celery("bench_batches", broker=broker_url(), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=0,
)


@app.task(
    base=Batches,
    name="bench.batches.graspil",
    flush_every=FLUSH_EVERY,
    flush_interval=FLUSH_INTERVAL,
)
def send_graspil(requests: list[SimpleRequest]) -> None:
    """One Graspil request per flush (at most 100 events: Graspil's maximum)."""
    items = [request.args[0] for request in requests]
    for start in range(0, len(items), FLUSH_EVERY):
        post_graspil(items[start : start + FLUSH_EVERY])


@app.task(
    base=Batches,
    name="bench.batches.grampixel",
    flush_every=FLUSH_EVERY,
    flush_interval=FLUSH_INTERVAL,
)
def send_grampixel(requests: list[SimpleRequest]) -> None:
    """GramPixel takes one event per request: the flush posts them in turn."""
    for request in requests:
        post_grampixel(request.args[0])


TASKS: dict[str, Any] = {"graspil": send_graspil, "grampixel": send_grampixel}
