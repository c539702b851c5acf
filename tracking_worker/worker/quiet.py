"""A Redis that is down or refusing (out of memory, read-only, loading, busy) said once a
minute per component, with a count, instead of a traceback per task, tick or reconnect.

Nothing is lost while it lasts: a task that meets it ends and the next tick starts it again,
so the log only needs to say that it is still going on, and when it is over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

#: One line per component per this many seconds while the failure lasts.
EVERY = 60.0


@dataclass
class _Spell:
    logged_at: float
    since: int = 0  # failures since the last line


class OncePerMinute:
    """Per component: the first failure logged at once, then a line a minute with how many
    more there were, and one line when the component succeeds again. One per process."""

    def __init__(
        self,
        log: logging.Logger,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.every = every
        self.clock = clock
        self._spells: dict[str, _Spell] = {}

    def failed(self, component: str, exc: BaseException) -> None:
        now = self.clock()
        spell = self._spells.get(component)
        if spell is not None and now - spell.logged_at < self.every:
            spell.since += 1
            return
        more = spell.since + 1 if spell else 1
        self.log.warning(
            "%s: Redis unavailable or refusing for now, retrying (%d failure(s) in the last "
            "%g s): %s",
            component,
            more,
            self.every,
            exc,
        )
        self._spells[component] = _Spell(now)

    def succeeded(self, component: str) -> None:
        if self._spells.pop(component, None) is not None:
            self.log.warning("%s: Redis answers again", component)


class QuietRepeats(logging.Filter):
    """For loggers we do not own (Celery's consumer reconnecting in a loop while Redis refuses
    the queue declarations a reconnect makes): each message template passes once a minute,
    the next one that passes says how many were held back, and none carries a traceback (each
    names its exception; "Frequent restarts detected" adds only billiard's own)."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._spells: dict[object, _Spell] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now, template = self.clock(), record.msg
        spell = self._spells.get(template)
        if spell is not None and now - spell.logged_at < self.every:
            spell.since += 1
            return False
        record.exc_info = None
        if spell is not None and spell.since:
            record.msg = f"{template} [{spell.since} more like this in the last minute]"
        self._spells[template] = _Spell(now)
        return True
