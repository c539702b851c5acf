"""The two Celery tasks. They only pick a provider; delivery logic lives in ``delivery/``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Celery, Task, signals

from .. import routing
from ..errors import StoreUnavailable
from .process import ProcessState


def register(app: Celery, state: ProcessState) -> None:
    """Define the tasks on ``app``, bound to ``state`` (each app gets its own), and tell
    ``state`` when its worker stops (see worker/stopping.py).

    A Redis that is down or refusing ends a task quietly (``state.quiet`` says so once a
    minute): nothing is lost, a batch it could not settle comes back with its lease, and the
    next tick starts the work again."""
    stopping = state.stopping
    # Weakly: the receiver goes with the app (tests and hosts make many).
    signals.worker_shutting_down.connect(stopping.set, dispatch_uid=f"tw-stopping-{id(stopping)}")

    # shared=False: these tasks belong to ``state``, not to every app later made in the process.
    @app.task(name=routing.DELIVER_TASK, ignore_result=True, shared=False, bind=True)
    def deliver(task: Task, provider: str, flush: bool = False) -> dict[str, Any] | None:
        component = f"deliver({provider})"
        # The worker node (its -n hostname): a slow provider runs once per node (Deliverer.run).
        node = task.request.hostname or ""
        try:
            with stopping.deferred_sigterm():
                report = state.current().deliver(provider, flush=flush, node=node)
        except StoreUnavailable as exc:
            state.quiet.failed(component, exc)
            return None
        state.quiet.succeeded(component)
        return asdict(report) if report else None

    @app.task(name=routing.TICK_TASK, ignore_result=True, shared=False)
    def tick(quiet: bool = True, force: bool = False) -> dict[str, int]:
        """The tick in a worker process: ``tracking-worker tick`` (``quiet=False``: a Redis
        error is let out; ``force``: tick whatever the last one), or an older beat's message
        (beat now ticks in its own process: worker/beat.py)."""
        try:
            started = state.current().tick(force=force)
        except StoreUnavailable as exc:
            if not quiet:
                raise
            state.quiet.failed("tick", exc)
            return {}
        state.quiet.succeeded("tick")
        return started or {}
