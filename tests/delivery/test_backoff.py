from __future__ import annotations

import random

import pytest

from tracking_worker.delivery.backoff import MAX_EXPONENT, compute_backoff


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rand = random.Random(7)
    for attempts in range(12):
        ceiling = min(60.0, 0.5 * 2**attempts)
        draws = [compute_backoff(attempts, base=0.5, cap=60.0, rand=rand) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # jitter spans the range, not a constant


def test_cap_bounds_large_attempt_counts() -> None:
    assert compute_backoff(500, base=1.0, cap=30.0, rand=random.Random(1)) <= 30.0


@pytest.mark.parametrize("attempts", [1_023, 1_024, 10**6])
def test_attempt_counts_beyond_a_float_exponent_wait_at_most_the_cap(attempts: int) -> None:
    """``2.0 ** 1024`` overflows: the exponent is capped, so a batch reaped or retried that
    often still gets a wait (a reap adds an attempt whatever ``max_attempts`` says)."""
    wait = compute_backoff(attempts, base=1.0, cap=30.0, rand=random.Random(1))
    assert 0.0 <= wait <= 30.0


def test_the_exponent_cap_keeps_the_base_growth_until_it() -> None:
    ceiling = 2.0**MAX_EXPONENT
    draws = [compute_backoff(10**6, base=1.0, cap=1e12, rand=random.Random(s)) for s in range(50)]
    assert max(draws) <= ceiling
    assert max(draws) > ceiling * 0.5
