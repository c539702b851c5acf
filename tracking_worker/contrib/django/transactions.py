"""``track()`` inside ``transaction.atomic()`` on any database: enqueued when the transaction
commits, never for a rollback."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connections, transaction


def defer_until_commit(enqueue: Callable[[], None]) -> bool:
    """Registered with ``tracking_worker.set_deferral``: inside an atomic block, on whichever
    database, hold the enqueue until the outermost block commits and say so; outside one,
    decline, and ``track()`` enqueues at once.

    With blocks open on several databases at once the event waits for all of them: the caller's
    transaction may be any of them, so it is sent only once none can roll back. Each open
    connection gets an ``on_commit`` callback, and the last one to run enqueues. Django has no
    rollback hook; it discards a rolled-back transaction's (or savepoint's) callbacks, so after
    any rollback the count never reaches zero and the event is dropped.

    ``robust``: Redis failing at commit time (with ``on_unavailable = "raise"``) is logged by
    Django and never stops the application's own on-commit callbacks that follow.
    """
    # Only connections this thread has opened: one never touched is in no transaction.
    aliases = [c.alias for c in connections.all(initialized_only=True) if c.in_atomic_block]
    if not aliases:
        return False
    last_commit = _on_call(len(aliases), enqueue)
    for alias in aliases:
        transaction.on_commit(last_commit, using=alias, robust=True)
    return True


def _on_call(count: int, enqueue: Callable[[], None]) -> Callable[[], None]:
    """A callback that runs ``enqueue`` on its ``count``-th call, and only then. Connections
    belong to one thread, so their callbacks never run concurrently."""
    left = count

    def committed() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            enqueue()

    return committed
