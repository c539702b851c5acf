"""The web side's skip of a cluster master that timed out (store/node_skips.py), with time
moved by hand: skipped for DOWN_FOR after a timeout, tried again after it, and an answer ends
the skip; replies it was skipped for neither end nor extend it."""

from __future__ import annotations

import redis

from tracking_worker.errors import StoreUnavailable
from tracking_worker.store.intake import admitted
from tracking_worker.store.node_skips import NodeSkipped, NodeSkips


def test_a_master_that_timed_out_is_skipped_then_tried_again() -> None:
    now = [100.0]
    skips = NodeSkips(down_for=1.0, clock=lambda: now[0])
    assert skips.skipped("10.0.0.1:6379") is None
    skips.record("10.0.0.1:6379", [[1, 0, 1, 0], redis.TimeoutError("Timeout reading")])
    skipped = skips.skipped("10.0.0.1:6379")
    assert isinstance(skipped, NodeSkipped) and "10.0.0.1:6379 skipped for 1s" in str(skipped)
    assert skips.skipped("10.0.0.2:6379") is None  # the other masters are sent to as ever
    now[0] += 0.5
    skips.record("10.0.0.1:6379", [skipped])  # a call it was skipped for
    assert skips.skipped("10.0.0.1:6379") is not None
    now[0] += 0.5
    assert skips.skipped("10.0.0.1:6379") is None  # DOWN_FOR later: tried again


def test_an_answer_ends_the_skip_and_a_refusal_is_no_timeout() -> None:
    now = [0.0]
    skips = NodeSkips(down_for=1.0, clock=lambda: now[0])
    skips.record("n:1", [redis.TimeoutError("Timeout reading")])
    skips.record("n:1", [[1, 0, 1, 0]])
    assert skips.skipped("n:1") is None
    skips.record("n:1", [redis.ConnectionError("Connection refused")])  # fast: not skipped
    assert skips.skipped("n:1") is None


def test_a_skipped_part_is_unavailable_so_spooled_alone() -> None:
    assert isinstance(admitted(NodeSkipped("n:1 skipped")), StoreUnavailable)
