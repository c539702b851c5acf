"""A Redis that refuses is said once a minute per component, and Redis's refusals are told
apart from errors in our commands or data."""

from __future__ import annotations

import logging

import pytest
import redis

from tracking_worker.errors import StoreError, StoreUnavailable
from tracking_worker.store.connection import converted, refused
from tracking_worker.worker.quiet import OncePerMinute, QuietRepeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_once_per_minute_per_component_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    quiet = OncePerMinute(logging.getLogger("test.quiet"), clock=clock)
    with caplog.at_level(logging.WARNING, "test.quiet"):
        for second in range(0, 125, 5):  # every 5 s for two minutes, two components
            clock.now = float(second)
            quiet.failed("tick", RuntimeError("OOM"))
            quiet.failed("deliver(graspil)", RuntimeError("OOM"))
        quiet.succeeded("tick")
        quiet.succeeded("tick")  # said once
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines] == ["tick", "deliver(graspil)"] * 3 + ["tick"]
    assert "(1 failure(s)" in lines[0] and "(12 failure(s)" in lines[2]
    assert lines[-1] == "tick: Redis answers again"


def test_quiet_repeats_passes_each_message_once_a_minute_without_traceback() -> None:
    clock = Clock()
    quiet = QuietRepeats(clock=clock)

    def record(msg: str) -> logging.LogRecord:
        return logging.makeLogRecord({"msg": msg, "exc_info": (ValueError, ValueError(), None)})

    first = record("consumer: Connection to broker lost (%r)")
    assert quiet.filter(first) and first.exc_info is None
    assert not any(quiet.filter(record("consumer: Connection to broker lost (%r)")) for _ in "ab")
    assert quiet.filter(record("Frequent restarts detected: %r"))
    clock.now = 61.0
    later = record("consumer: Connection to broker lost (%r)")
    assert quiet.filter(later)
    assert later.msg.endswith("[2 more like this in the last minute]")


@pytest.mark.parametrize(
    ("exc", "refusing"),
    [
        (redis.exceptions.OutOfMemoryError("command not allowed when used memory"), True),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), True),
        (redis.ResponseError("BUSY Redis is busy running a script. You can only call"), True),
        (redis.ResponseError("MASTERDOWN Link with MASTER is down"), True),
        (redis.ResponseError("Error running script: @user_script:19: -READONLY You can't"), True),
        (
            redis.ResponseError("Error running script: @user_script:3: attempt to compare nil"),
            False,
        ),
        (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"), False),
        (redis.ResponseError("NOSCRIPT No matching script"), False),
    ],
)
def test_refusals_are_unavailable_other_errors_are_not(
    exc: redis.RedisError, refusing: bool
) -> None:
    assert refused(exc) is refusing
    with pytest.raises(StoreError) as raised, converted("settling"):
        raise exc
    assert isinstance(raised.value, StoreUnavailable) is refusing


def test_loading_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable), converted("claiming"):
        raise redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")
