"""What an operator reads at the Procfile's INFO level: nothing while idle (beat's ticks and
their tasks are DEBUG), nothing for a trickle of one-event deliveries, one line per batch of a
backfill, and a line per state change (a circuit opening and closing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.keys import tick_key
from tracking_worker.sandbox import SandboxServer

N = 2000
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):")


def records(paths: tuple[Path, ...], since: datetime) -> list[str]:
    """Log records stamped at ``since`` or later (not the banners, and not an earlier record a
    child's buffered output writes late)."""
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            stamp = STAMP.match(line)
            if stamp and datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f") >= since:
                found.append(line)
    return found


def test_idle_trickle_and_backfill_log_volume(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil", "grampixel"], loglevel="INFO")
    system.wait_worker_ready()
    logs = (system.home / "worker.log", system.home / "beat.log")
    client = system.queue("graspil").client

    def ticks(count: int) -> None:
        """Until beat's tick has run ``count`` more times (flush_interval 0.5: 4 a second)."""
        seen: list[bytes | None] = [client.get(tick_key())]
        wait_for(
            lambda: seen.append(client.get(tick_key())) or len(set(seen)) > count,
            30,
            interval=0.05,
        )

    ticks(2)  # start-up lines written
    start = datetime.now()
    ticks(12)  # three seconds idle
    idle = records(logs, start)
    assert idle == [], idle  # was two lines per tick and one for beat's send

    for n in range(1, 11):  # a trickle: each event alone, delivered one by one
        system.tracker.track("purchase", telegram_id=n, ad_session_id=f"gp_{n}")
        # both providers: the next event must not join this one in a batch of two
        wait_for(
            lambda: all(system.counts(p)["delivered"] == n for p in ("graspil", "grampixel")),  # noqa: B023
            20,
        )
    trickle = records(logs, start)
    assert trickle == [], trickle

    before = datetime.now()
    events = [
        {"name": "purchase", "telegram_id": n, "ad_session_id": f"gp_{n}"}
        for n in range(100, 100 + N)
    ]
    system.tracker.track_many(events)
    wait_for(lambda: system.settled("graspil", 10 + N) and system.settled("grampixel", 10 + N), 90)
    backfill = records(logs, before)
    batches = [line for line in backfill if ": batch " in line]
    assert len(backfill) == len(batches), [x for x in backfill if x not in batches][:5]
    # Graspil: batches of 100; GramPixel: one claim per round of its connections.
    assert N // 100 <= len(batches) <= N // 100 + N // 8, len(batches)
    print(f"\nINFO lines: idle 0, trickle of 10: 0, backfill of {N} x 2 providers: {len(backfill)}")
