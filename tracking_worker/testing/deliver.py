"""Delivering captured events now, in this thread: the real providers (mapping and
classification), the real sender (chunks, splitting a rejected batch) and the real transport,
with no Redis and no Celery."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..outcomes import Delivered, Outcome
from ..providers.base import Provider
from ..settings import Settings

if TYPE_CHECKING:
    from ..delivery.bisect import Item
    from .capture import Captured
    from .server import TrackingSandbox


@dataclass(frozen=True)
class Delivery:
    """What one provider's answer meant for one event (``outcomes``: Delivered, Retry,
    Reject...)."""

    provider: str
    event_id: str
    outcome: Outcome

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Delivered)


def deliver(events: Sequence[Captured], target: TrackingSandbox | Settings) -> list[Delivery]:
    """Each event to each of ``target``'s providers it is routed to (those it asked for, or
    all), by provider, in call order; an event a provider skips is not sent to it (its
    ``skipped`` says why). One run of the real sender per provider, as one batch: chunks of
    ``batch_size``, a rejected chunk split to find the bad events."""
    settings = target if isinstance(target, Settings) else target.settings
    deliveries: list[Delivery] = []
    for name, provider in settings.build_providers().items():
        items = [
            (captured.typed.to_json(), captured.typed)
            for captured in events
            if (not captured.providers or name in captured.providers)
            and provider.skip_reason(captured.typed) is None
        ]
        if items:
            deliveries += _send(provider, items)
    return deliveries


def _send(provider: Provider, items: list[Item]) -> list[Delivery]:
    from ..delivery.sender import Sender
    from ..delivery.transport import Transport
    from ..redact import Redactor

    ids = {raw: event.event_id for raw, event in items}
    transport = Transport(max_connections=provider.max_connections, timeout=provider.timeout)
    try:
        with ThreadPoolExecutor(provider.max_connections) as executor:
            sender = Sender(provider, transport, executor, redact=Redactor(provider.secrets))
            sent = sender.send(items, keep_alive=lambda: True)
    finally:
        transport.close()
    return [Delivery(provider.name, ids[raw], outcome) for raw, outcome in sent.results]
