"""Routes paused by a configuration answer, as one run of the deliverer sees them: the events
of a paused route are set aside before sending, the routes a round paused get their records,
and a worker started with changed settings resumes what the old ones paused.

The decisions are the policy's (``round_health``, ``settle_round``); this holds the Redis side
(``store.routes``) and says so loudly: a log line at ERROR and a report (Sentry) naming the
route, the setting and the provider's own words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..outcomes import Configuration, Outcome
from ..providers.base import Provider
from ..store.circuit import CONFIGURATION, CREDENTIALS, REJECTED, Circuit
from ..store.queue import Settlement
from ..store.routes import RoutePause, Routes
from .bisect import Item
from .fingerprint import settings_fingerprint
from .policy import Health

log = logging.getLogger("tracking_worker.delivery")

Report = Callable[[str, str, str, int], object]


class Pauses:
    """One provider's paused routes, for its deliverer."""

    def __init__(
        self,
        provider: Provider,
        routes: Routes,
        circuit: Circuit,
        *,
        report: Report | None,
        clock: Callable[[], float],
    ) -> None:
        self.provider = provider
        self.routes = routes
        self.circuit = circuit
        self.report = report
        self.clock = clock
        self.started = False

    def start(self) -> None:
        """Once per worker process, before its first claim: what settings since changed
        resumes, once (the scripts compare fingerprints, so only one worker moves events)."""
        if self.started:
            return
        self.started = True
        settings = self.provider.settings
        due = self.circuit.reset(changed_from=settings_fingerprint(settings))
        if due >= 0:
            log.warning(
                "%s: settings changed since a configuration answer paused the provider: "
                "resumed (%d retry batch(es) due now)",
                self.provider.name,
                due,
            )
        paused = self.routes.paused()
        changed = {name: settings_fingerprint(settings, name) for name in paused}
        resumed, moved = self.routes.resume(changed)
        if resumed:
            log.warning(
                "%s: settings changed for %d paused route(s): %d parked event(s) back to pending",
                self.provider.name,
                resumed,
                moved,
            )

    def set_aside(self, items: Sequence[Item]) -> tuple[list[Item], dict[str, list[str]]]:
        """The items to send, and those of a paused route (by route), kept unsent."""
        paused = self.routes.paused() if items else {}
        live: list[Item] = []
        parked: dict[str, list[str]] = {}
        for raw, event in items:
            if event.name in paused:
                parked.setdefault(event.name, []).append(raw)
            else:
                live.append((raw, event))
        return live, parked

    def record(self, settlement: Settlement, results: Sequence[tuple[str, Outcome]]) -> None:
        """Each route this round paused gets its record (written by settle.lua unless one is
        there), and is reported once per batch that found it."""
        now = self.clock()
        for raw, outcome in results:
            if not isinstance(outcome, Configuration) or outcome.route is None:
                continue
            route = outcome.route
            if route in settlement.pauses:
                continue
            fingerprint = settings_fingerprint(self.provider.settings, route)
            pause = RoutePause(outcome.setting, outcome.reason, outcome.status, fingerprint, now)
            settlement.pauses[route] = pause.to_json()
            self._loud(route, pause, len(settlement.parked.get(route, [raw])))

    def _loud(self, route: str, pause: RoutePause, count: int) -> None:
        words = f"route {route!r} paused, setting {pause.setting!r} is wrong: {pause.reason}"
        if self.report is not None:
            self.report("configuration", self.provider.name, words, count)
        log.error(
            "%s: %s (%d event(s) parked; fix the setting and restart the worker, or run "
            "`tracking-worker circuit reset %s`)",
            self.provider.name,
            words,
            count,
            self.provider.name,
            extra={"route": route, "setting": pause.setting},
        )


def log_opened(name: str, report: Report | None, health: Health, reason: str, pause: float) -> None:
    """The circuit opened: a warning after failures; an error and a report when the events
    are not at fault (a refused key, a wrong setting, a reject storm)."""
    if health.kind not in (CREDENTIALS, CONFIGURATION, REJECTED):
        log.warning("%s: circuit opened for %.0fs after failures: %s", name, pause, reason)
        return
    kind = "storm" if health.kind == REJECTED else health.kind
    if report is not None:
        report(kind, name, reason, 1)
    if health.kind == CREDENTIALS:
        what = f"credentials refused, provider paused for {pause:.0f}s"
    else:
        cause = "reject storm" if kind == "storm" else f"setting {health.setting!r} is wrong"
        what = (
            f"{cause}: provider paused until `tracking-worker circuit reset {name}` or a "
            "worker started with changed settings"
        )
    log.error(
        "%s: %s, events kept: %s",
        name,
        what,
        reason,
        extra={"sentry_reported": report is not None, "kind": kind, "setting": health.setting},
    )
