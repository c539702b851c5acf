"""before_send hooks a user could write, imported by the worker under test by their paths
(``tests.delivery.hook_examples:shape``)."""

from __future__ import annotations

import dataclasses

from tracking_worker import Drop, Event

NO_CONSENT, SAMPLED_OUT, BROKEN = 5, 7, 13


def shape(event: Event, provider: str) -> Event | None:
    """Drops a user without consent (with a reason) and one sampled out (None), fails on one,
    and sends the others with their value doubled (a change the provider must see)."""
    if event.telegram_id == NO_CONSENT:
        raise Drop(f"no consent for {provider}")
    if event.telegram_id == SAMPLED_OUT:
        return None
    if event.telegram_id == BROKEN:
        raise RuntimeError("the hook's own bug")
    value = event.value * 2 if event.value is not None else None
    return dataclasses.replace(event, value=value)


not_a_function = 3
