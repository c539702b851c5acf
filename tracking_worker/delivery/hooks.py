"""``before_send``: the user's own function between the queue and a provider, per provider.

Consent rules, sampling, a custom field: ``providers.<name>.before_send = "myapp.hooks:shape"``
names ``shape(event, provider) -> Event | None``, called in the worker for each event before
its request is built, on every attempt (so it should decide from the event alone). It returns
the event to send (``dataclasses.replace(event, ...)`` to change it), or None, or raises
``tracking_worker.Drop("reason")``, to drop it: a drop is counted ``dropped`` with the hook's
reason in the event's receipt, never sent. Any other exception dead-letters that event alone,
with the error (kind ``hook``): never the batch, never the worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigurationError, Drop
from ..events import Event
from ..providers.base import Provider
from ..store.queue import DeadEvent
from .bisect import Item

Hook = Callable[[Event, str], "Event | None"]


def load_hook(provider: Provider) -> Hook | None:
    """The provider's ``before_send``, imported once when its worker builds it; a path that
    does not import or names no function fails the worker's start naming the key."""
    path = provider.settings.before_send
    if not path:
        return None
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    key = f"providers.{provider.name}.before_send"
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"{key}: cannot load {path!r}: {exc}") from None
    if not callable(found):
        raise ConfigurationError(f"{key}: {path!r} is not a function")
    hook: Hook = found
    return hook


@dataclass
class Shaped:
    """A batch's live items after the hook: those to send (as the hook returned them), those
    it dropped (event id, reason), and those it failed on (dead letters)."""

    live: list[Item] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    dead: list[DeadEvent] = field(default_factory=list)


def shape(
    hook: Hook | None, provider: Provider, items: Sequence[Item], redact: Callable[[str], str]
) -> Shaped:
    """Run ``hook`` over ``items``. An event it changed into one the provider cannot take is
    dropped with the provider's skip reason, as track() would have skipped it."""
    if hook is None:
        return Shaped(live=list(items))
    shaped = Shaped()
    for raw, event in items:
        try:
            result = hook(event, provider.name)
        except Drop as exc:
            shaped.dropped.append((event.event_id, f"before_send: {exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - the user's code: this event's fault alone
            reason = redact(f"before_send raised {type(exc).__name__}: {exc}")
            shaped.dead.append(DeadEvent(raw, reason, "hook"))
            continue
        if result is None:
            shaped.dropped.append((event.event_id, "before_send: dropped"))
        elif not isinstance(result, Event):
            reason = f"before_send returned {type(result).__name__}, not an Event or None"
            shaped.dead.append(DeadEvent(raw, reason, "hook"))
        elif (skip := provider.skip_reason(result)) is not None:
            shaped.dropped.append((event.event_id, f"before_send: {skip}"))
        else:
            shaped.live.append((raw, result))
    return shaped
