"""``suppress()``, ``unsuppress()`` and ``suppressions()``: the opt-out list, from Python.

A suppressed person's future events are dropped by ``track()``, ``atrack()``, ``track_many()``,
``tracking-worker import`` and spool drains at the door, in the enqueue's own round trip
(enqueue.lua), and counted as ``suppressed``. ``track()`` still returns the event id: an
opt-out is not the caller's mistake, and one call site should not have to tell apart a person
who opted out. Events already queued are not touched (``forget`` removes those).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .people import given_members
from .store.suppression import Change, Suppressed, Suppressions

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["Change", "Suppressed", "suppress", "suppressions", "unsuppress"]


def suppress(
    *,
    telegram_id: int | str | None = None,
    email: str | None = None,
    user_id: str | int | None = None,
    visitor_id: str | None = None,
    settings: Settings | None = None,
) -> Change:
    """Drop every future event of this person, recognised by any identifier given (an e-mail
    in any case, spaces around it trimmed). Idempotent. Raises ValidationError when no
    identifier is given or one is malformed, StoreError when Redis cannot be written."""
    members = given_members(
        {"telegram_id": telegram_id, "email": email, "user_id": user_id, "visitor_id": visitor_id}
    )
    with _list(settings) as people:
        return people.add(members)


def unsuppress(
    *,
    telegram_id: int | str | None = None,
    email: str | None = None,
    user_id: str | int | None = None,
    visitor_id: str | None = None,
    settings: Settings | None = None,
) -> Change:
    """Take these identifiers off the list: the person's future events are enqueued again
    (what was dropped meanwhile is gone). Idempotent."""
    members = given_members(
        {"telegram_id": telegram_id, "email": email, "user_id": user_id, "visitor_id": visitor_id}
    )
    with _list(settings) as people:
        return people.remove(members)


def suppressions(settings: Settings | None = None) -> list[Suppressed]:
    """Every hashed identifier on the list, with the events of it dropped so far."""
    with _list(settings) as people:
        return people.listing()


@contextmanager
def _list(settings: Settings | None) -> Iterator[Suppressions]:
    """The list over ``settings`` (a client of their own, closed after), or over the Redis
    and settings ``track()`` uses here."""
    if settings is None:
        from . import get_tracker

        tracker = get_tracker()
        yield Suppressions(tracker.client, tracker.settings)
        return
    from .store.connection import worker_client

    client = worker_client(settings)
    try:
        yield Suppressions(client, settings)
    finally:
        client.close()
