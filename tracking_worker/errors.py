"""The one exception root of tracking_worker and its branches.

Errors of redis-py and requests are converted where they enter our code, so callers only ever
need to catch ``TrackingError`` (or one of its children).
"""

from __future__ import annotations

from collections.abc import Mapping


class TrackingError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(TrackingError):
    """Settings are missing, unknown or of the wrong type; raised at start-up, never later."""


class ValidationError(TrackingError):
    """An event given to ``track()`` is invalid; nothing of that call was enqueued.

    ``errors`` maps each bad field (``"value"``, or ``"events.3.currency"`` for ``track_many``)
    to its messages, so a caller can show them or log them as they are.
    """

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = dict(errors)
        super().__init__(_describe(self.errors))


class Drop(TrackingError):
    """Raised by a ``before_send`` hook to drop the event it was given, with a reason: the
    event is counted ``dropped`` and its receipt says why (delivery/hooks.py)."""


class TrackingUnavailable(TrackingError):
    """Redis could not be reached in time and the caller asked us to raise, not to spool."""


class PartlyEnqueued(TrackingUnavailable):
    """Some providers have the events; the part of the others failed and was not spooled
    (``on_unavailable = "raise"``). Calling again with the same ``event_id`` adds nothing for
    the providers that have an event (each takes an id once), so a retry is safe as it is;
    ``providers=failed`` narrows it."""

    def __init__(
        self, message: str, *, enqueued: list[str], failed: list[str], event_ids: list[str]
    ) -> None:
        super().__init__(message)
        self.enqueued = enqueued
        self.failed = failed
        self.event_ids = event_ids


class PersonError(TrackingError):
    """The identifiers given to ``forget`` name nobody: none given, or one no event could
    hold (a Telegram id below 1, empty text)."""


class StoreError(TrackingError):
    """A Redis command failed (a wrong type, a refused password, a script error); raised by
    ``store/`` in place of redis-py's errors, so nothing above it sees a raw redis exception."""


class StoreUnavailable(StoreError):
    """Redis could not be reached, did not answer in time, or refuses for now (out of memory,
    read-only, loading, busy): the same command later can succeed."""


def _describe(errors: Mapping[str, list[str]]) -> str:
    parts = [f"{field}: {'; '.join(msgs)}" for field, msgs in sorted(errors.items())]
    return "invalid event: " + ", ".join(parts)
