"""A dry run (``delivery.mode = "dry_run"``): the worker claims, renders and settles as it
would, but sends nothing.

Each request the real sender would make is built by the provider's own mapping, rendered with
its secrets masked (``render.py``, as ``tracking-worker render`` shows it) and logged: one
INFO line per batch. Its events then settle as ``dry_run`` (counted, receipted) and leave the
queue as delivered ones would. A mapping that raises is poison here too, dead-lettered alone
(the batch is split to find it, as a rejected one is). No request is made, so the circuit,
the rate limit and the latency histogram never hear of a dry run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ..outcomes import Delivered, MappingFailed
from ..render import RenderedRequest, rendered
from .bisect import Attempt, Item, Round, bisect
from .sender import Sender

log = logging.getLogger("tracking_worker.delivery")

#: A request's body in the log line is cut here; ``tracking-worker render`` shows it whole.
LOGGED_BODY_CHARS = 2000
RENDERED = Delivered("dry run: rendered, not sent")


class DryRunSender(Sender):
    """The Sender of a provider in dry-run mode: renders and logs what it would send."""

    def send(
        self,
        items: Sequence[Item],
        *,
        keep_alive: Callable[[], bool],
        probe: bool = False,
        since: float | None = None,
    ) -> Round:
        """Every chunk of ``batch_size`` rendered (one request each, none sent), every event
        back ``Delivered`` but a mapping's poison; logged in one line."""
        size = self.provider.batch_size
        requests: list[RenderedRequest] = []
        total = Round()
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            total.add(bisect(chunk, lambda part: self._render(part, requests)))
        poison = sum(isinstance(outcome, MappingFailed) for _, outcome in total.results)
        self._log(len(items), requests, poison)
        return total

    def _render(self, chunk: Sequence[Item], requests: list[RenderedRequest]) -> Attempt:
        try:
            request = self.provider.build_request([event for _, event in chunk])
        except Exception as exc:  # noqa: BLE001 - poison, dead-lettered as a real send does
            reason = self.redact(f"mapping failed: {type(exc).__name__}: {exc}")
            return Attempt(MappingFailed(reason), 0)
        requests.append(rendered(request, self.redact))
        return Attempt(RENDERED, 0)

    def _log(self, events: int, requests: list[RenderedRequest], poison: int) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        lines = " | ".join(request.line(LOGGED_BODY_CHARS) for request in requests)
        log.info(
            "%s: dry run: %d event(s) as %d request(s)%s, not sent: %s",
            self.provider.name,
            events,
            len(requests),
            f" ({poison} the mapping failed on: dead)" if poison else "",
            lines or "none",
            extra={
                "provider": self.provider.name,
                "events": events,
                "requests": 0,
                "rendered": len(requests),
                "outcome": "dry_run",
            },
        )
