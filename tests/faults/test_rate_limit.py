"""A configured rate limit holds across the worker's concurrent sends."""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer


def test_rate_limit_is_never_exceeded(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(
        providers=["vibetrace"], provider_overrides={"vibetrace": {"rate_limit": 20.0}}
    )
    system.tracker.track_many(
        [{"name": "signup", "email": f"u{n}@example.test"} for n in range(60)]
    )
    wait_for(lambda: system.settled("vibetrace", 60), 30, message=system.log())
    stamps = sorted(r["timestamp"] for r in sandbox.requests("vibetrace"))
    assert len(stamps) == 60
    # A token bucket of 20/s with a burst of 20: any window of w seconds holds at most
    # 20 + 20 * w requests, so 60 take about 2 s. The sandbox stamps a request when it has
    # answered it, so concurrent sends may shift by a few tens of ms: a slack of 3 requests.
    for width in (0.25, 0.5, 1.0, 1.5):
        busiest = max(sum(1 for t in stamps if s <= t < s + width) for s in stamps)
        assert busiest <= 20 + 20 * width + 3, (width, busiest)
    assert stamps[-1] - stamps[0] >= 1.75
