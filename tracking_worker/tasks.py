"""The two Celery tasks. They only pick a provider; delivery logic lives in ``delivery.py``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Celery


def register(app: Celery) -> None:
    """Define the tasks on ``app`` (each app gets its own, bound to its own settings)."""

    @app.task(name="tracking_worker.deliver", ignore_result=True)
    def deliver(provider: str, flush: bool = False) -> dict[str, Any] | None:
        from .celery_app import runtime_for

        report = runtime_for(app).deliver(provider, flush=flush)
        return asdict(report) if report else None

    @app.task(name="tracking_worker.tick", ignore_result=True)
    def tick() -> dict[str, int]:
        from .celery_app import runtime_for

        return runtime_for(app).tick()
