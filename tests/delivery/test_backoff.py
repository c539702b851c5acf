from __future__ import annotations

import random

from tracking_worker.delivery.backoff import compute_backoff


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rand = random.Random(7)
    for attempts in range(12):
        ceiling = min(60.0, 0.5 * 2**attempts)
        draws = [compute_backoff(attempts, base=0.5, cap=60.0, rand=rand) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # jitter spans the range, not a constant


def test_cap_bounds_large_attempt_counts() -> None:
    assert compute_backoff(500, base=1.0, cap=30.0, rand=random.Random(1)) <= 30.0
