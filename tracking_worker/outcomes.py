"""What a provider's answer means for the events of one request: values, never booleans."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivered:
    """The provider accepted every event of the request; ``info`` is worth a log line."""

    info: str = ""


@dataclass(frozen=True)
class Retry:
    """Not the events' fault: send them again later.

    ``after`` is the provider's own wait (Retry-After) in seconds. ``throttled`` marks a rate
    limit: the whole provider pauses and the events' attempt is not counted. ``sent`` is False
    for events that never went out (the round stopped, the lease was lost, a half-open probe
    is one request): they use up no attempt and say nothing about the provider.
    """

    reason: str
    status: int | None = None
    after: float | None = None
    throttled: bool = False
    sent: bool = True


@dataclass(frozen=True)
class Reject:
    """The provider refused the events as invalid: they can never go through as they are.

    For a multi-event request the provider may refuse the whole batch for one bad item, so
    delivery splits it to find the culprits before dead-lettering anything.
    """

    reason: str
    status: int | None = None
    excerpt: str = ""


@dataclass(frozen=True)
class Credentials:
    """The key or token was refused: pause the provider and keep the events queued."""

    reason: str
    status: int | None = None


@dataclass(frozen=True)
class MappingFailed(Reject):
    """The provider's mapping raised on this event: poison data, not the provider's answer."""


Outcome = Delivered | Retry | Reject | Credentials
