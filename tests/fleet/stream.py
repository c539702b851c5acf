"""A web app's steady stream of purchases to all five providers, and what the sandbox got of
it: per provider, which events each accepted request carried and when."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

from tests.helpers import pause_until
from tests.system import System
from tracking_worker.errors import TrackingUnavailable
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import SandboxServer

PROVIDERS = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")


def purchase(n: int) -> dict[str, Any]:
    """Event ``n``, marked for every provider's way of carrying a user."""
    return {
        "telegram_id": n,
        "email": f"fleet-{n}@example.test",
        "visitor_id": f"fleet-{n}",
        "session_id": str(uuid.uuid4()),
        "value": 1.0,
        "currency": "USD",
        "order_id": f"o-{n}",
    }


class Stream:
    """track() at ``rate`` events a second, on a schedule, in a thread, until stopped;
    ``tracked`` holds each event's number and when track() returned for it."""

    def __init__(self, tracker: Tracker, rate: float) -> None:
        self.tracker = tracker
        self.rate = rate
        self.tracked: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream")

    def start(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            n += 1
            pause_until(start + n / self.rate)
            self.tracker.track("purchase", **purchase(n))
            self.tracked[n] = time.time()


def ids_in(provider: str, body: Any, mark: str = "fleet") -> list[int]:
    """The event numbers one request carried (events marked ``<mark>-<n>`` for the providers
    that carry an e-mail or a visitor id, as ``purchase`` marks them)."""
    items = body if isinstance(body, list) else [body]
    if provider in ("graspil", "tganalytics"):
        return [int(i["user_id"]) for i in items]
    if provider == "grampixel":
        return [int(i["telegram_id"]) for i in items]
    marks = [i["visitor_identity"] if provider == "giosg" else i["user"]["email"] for i in items]
    return [int(m) for m in re.findall(rf"{mark}-(\d+)", " ".join(marks))]


def accepted(sandbox: SandboxServer, provider: str) -> list[tuple[float, list[int]]]:
    """Each request the provider accepted: when it arrived, and the events it carried."""
    return [
        (record["timestamp"], ids_in(provider, record["body"]))
        for record in sandbox.requests(provider)
        if record.get("outcome") == "accepted"
    ]


def received(sandbox: SandboxServer, provider: str) -> Counter[int]:
    """How many times each event reached the provider."""
    return Counter(n for _, ids in accepted(sandbox, provider) for n in ids)


def drained(system: System) -> bool:
    """What the stream's last calls left in the spool, moved into Redis (as the next calls
    would)."""
    try:
        system.tracker.drain_spool()
    except TrackingUnavailable:
        return False
    return not system.tracker.spool.has_events()
