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


class TaskChatter(logging.Filter):
    """Celery's INFO lines about each of ``names``' messages (the worker's "Task ... received"
    and "... succeeded", beat's "Sending due task", "Discarding revoked task" for a tick that
    expired in a busy queue, as ticks are meant to), moved to DEBUG: beat's tick alone is
    three lines a second, and a quiet provider's one-event runs as many; what a run did is
    said by our own lines (a batch's outcome, a state change). Other tasks, and our tasks'
    failures, are left as Celery logs them."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = frozenset(names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or self._task(record) not in self.names:
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    @staticmethod
    def _task(record: logging.LogRecord) -> object:
        data = getattr(record, "data", None)  # the worker's: the task's context
        if isinstance(data, dict):
            return data.get("name")
        if not isinstance(record.args, tuple) or not record.args:
            return None
        if record.name == "celery.beat":
            return record.args[-1]  # (entry name, task name)
        if record.name == "celery.worker.request":
            return record.args[0]  # (task name, id)
        return None


#: Celery's loggers of a task's receipt, expiry and success, and of beat sending it.
CHATTY = ("celery.worker.strategy", "celery.app.trace", "celery.beat", "celery.worker.request")


def quiet_task_chatter(names: tuple[str, ...]) -> None:
    """Once per process (a filter per logger, never two)."""
    for name in CHATTY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TaskChatter) for f in logger.filters):
            logger.addFilter(TaskChatter(names))
