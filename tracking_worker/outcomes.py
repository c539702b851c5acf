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
class Configuration:
    """The answer says our settings are wrong (a goal id, a path, an app name): the events
    are not at fault and no retry can help until someone fixes the setting.

    ``setting`` names it as the config file does (``targets``, ``goals``, ``base_url``). A
    provider-wide one pauses the provider until ``circuit reset`` or a worker started with
    changed settings; one with ``per_route`` concerns one event name's setting (a Graspil
    target, a Giosg goal) and pauses only that name's route: the sender fills in ``route``
    from the request's events (a request of several names is split until it holds one).
    """

    reason: str
    setting: str
    status: int | None = None
    per_route: bool = False
    route: str | None = None


@dataclass(frozen=True)
class NotYet:
    """The provider does not know the person *yet* (VibeTrace: the user must exist; giosg: no
    session for the visitor): often true for seconds or minutes, until the site's tracker
    creates the user or the visitor id call lands.

    Not a ``Reject``: it is neither split as a batch-level refusal nor dead at once, and says
    nothing against the provider. The events retry on ``delivery.not_yet_delays`` and are dead
    with the provider's words once that schedule is used up.
    """

    reason: str
    status: int | None = None
    excerpt: str = ""


@dataclass(frozen=True)
class MappingFailed(Reject):
    """The provider's mapping raised on this event: poison data, not the provider's answer."""


Outcome = Delivered | Retry | Reject | Credentials | Configuration | NotYet
