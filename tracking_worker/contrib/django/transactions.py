"""``track()`` inside ``transaction.atomic()``: enqueued on commit, never for a rollback."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction


def defer_until_commit(enqueue: Callable[[], None]) -> bool:
    """Registered with ``tracking_worker.set_deferral``: inside an atomic block of the default
    database, hold the enqueue until the outermost block commits (a rolled-back savepoint drops
    it, as Django drops its other on-commit callbacks) and say so; outside one, decline, and
    ``track()`` enqueues at once.

    ``robust``: Redis failing at commit time (with ``on_unavailable = "raise"``) is logged by
    Django and never stops the application's own on-commit callbacks that follow.
    """
    if not transaction.get_connection().in_atomic_block:
        return False
    transaction.on_commit(enqueue, robust=True)
    return True
