"""The Lease: the one place that decides when a batch's lease is renewed, and whether a
request may still start. ``since`` in the past stands for time passed (no sleeping)."""

from __future__ import annotations

import threading
import time

from tracking_worker.delivery.lease import Lease
from tracking_worker.errors import StoreUnavailable

LEASE = 60.0


def counting(answer: bool = True, *, ago: float = LEASE / 3) -> tuple[Lease, list[float], float]:
    """A Lease taken ``ago`` seconds ago (by default a renewal is due), its renewals, and now."""
    renewals: list[float] = []

    def keep_alive() -> bool:
        renewals.append(time.monotonic())
        return answer

    now = time.monotonic()
    return Lease(keep_alive, lease=LEASE, since=now - ago), renewals, now


def test_renews_once_when_due_then_a_third_of_a_lease_later() -> None:
    lease, renewals, now = counting()
    assert lease.due_in() == 0.0
    lease.renew_if_due()
    lease.renew_if_due()
    assert len(renewals) == 1
    assert LEASE / 3 - 1 < lease.due_in() <= LEASE / 3
    assert lease.held_until >= now + LEASE * 2 / 3 and lease.unsent() is None


def test_not_due_no_call() -> None:
    lease, renewals, _ = counting(ago=0.0)
    lease.renew_if_due()
    assert renewals == [] and lease.unsent() is None


def test_only_the_sending_thread_renews() -> None:
    lease, renewals, _ = counting()
    other = threading.Thread(target=lease.renew_if_due)
    other.start()
    other.join()
    assert renewals == []
    lease.renew_if_due()
    assert len(renewals) == 1


def test_a_lease_found_lost_stops_every_later_request() -> None:
    lease, _, _ = counting(answer=False)
    lease.renew_if_due()
    for _ in range(2):
        unsent = lease.unsent()
        assert lease.lost and unsent is not None and not unsent.sent
        assert "lease ran out" in unsent.reason


def test_a_renewal_that_cannot_reach_redis_counts_as_lost() -> None:
    def unreachable() -> bool:
        raise StoreUnavailable("renewing: Redis unavailable")

    lease = Lease(unreachable, lease=LEASE, since=time.monotonic() - LEASE / 3)
    lease.renew_if_due()
    assert lease.lost and lease.unsent() is not None


def test_the_hold_runs_from_the_claim_and_a_renewal_extends_it_from_its_call() -> None:
    frozen = time.monotonic() - LEASE * 2 / 3  # claimed a hold ago, not renewed since
    lease = Lease(lambda: True, lease=LEASE, since=frozen)
    assert lease.unsent() is not None  # the hold ran out: lost for good
    fresh = Lease(lambda: True, lease=LEASE, since=frozen)
    fresh.renew_if_due()  # asked before the first request: still held, so it may go
    assert fresh.unsent() is None
