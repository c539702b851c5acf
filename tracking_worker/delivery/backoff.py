"""The retry schedule, as a pure function."""

from __future__ import annotations

import random

#: Above this exponent the ceiling is the cap for any sane base; capping it keeps ``2.0 **``
#: finite (it raises OverflowError from 1,024) whatever attempt count a batch reached.
MAX_EXPONENT = 32


def compute_backoff(
    attempts: int,
    *,
    base: float,
    cap: float,
    rand: random.Random | None = None,
    max_exponent: int = MAX_EXPONENT,
) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential with full jitter, capped.

    Full jitter (a uniform draw below the exponential ceiling) spreads the retries of many
    workers that failed together, so a recovering provider is not hit by a synchronized wave.
    Any ``attempts``, however large, gives a finite wait of at most ``cap``.
    """
    exponent = min(max(0, attempts), max_exponent)
    ceiling = min(cap, base * (2.0**exponent))
    return (rand or random).uniform(0.0, ceiling)
