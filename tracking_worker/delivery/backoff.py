"""The retry schedule, as a pure function."""

from __future__ import annotations

import random


def compute_backoff(
    attempts: int, *, base: float, cap: float, rand: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential with full jitter, capped.

    Full jitter (a uniform draw below the exponential ceiling) spreads the retries of many
    workers that failed together, so a recovering provider is not hit by a synchronized wave.
    """
    ceiling = min(cap, base * (2.0 ** max(0, attempts)))
    return (rand or random).uniform(0.0, ceiling)
