"""The web side's round trip on a real redis-server: pinned connections survive what Redis does
to them, go back to the pool with their thread, and the spin stops where it cannot pay."""

from __future__ import annotations

import functools
import os
import threading
import time

import pytest
import redis

from tracking_worker.store.roundtrip import RoundTrip


@pytest.fixture
def trips(redis_url: str) -> RoundTrip:
    return RoundTrip(redis.Redis.from_url(redis_url, socket_timeout=2), spin=0.0002)


LOOP = "for i = 1, {n} do end return 1"


@functools.cache
def loops_per_second(url: str) -> float:
    """How fast this server runs an empty Lua loop: a script cannot watch the clock (TIME is
    frozen inside a script on Valkey and newer Redis), so a busy script counts instead."""
    client = redis.Redis.from_url(url)
    n = 2_000_000
    started = time.perf_counter()
    client.eval(LOOP.format(n=n), 0)
    elapsed = time.perf_counter() - started
    client.close()
    return n / elapsed


def busy_for(url: str, micros: int) -> str:
    """A script that keeps Redis busy at least ``micros`` µs (twice the calibrated count)."""
    return LOOP.format(n=int(2 * loops_per_second(url) * micros / 1e6) + 1)


def my_id(trips: RoundTrip) -> int:
    return int(trips.call("CLIENT", "ID"))


def test_a_reply_comes_back_as_read_and_an_error_reply_leaves_the_connection_usable(
    trips: RoundTrip,
) -> None:
    assert trips.call("SET", "k", "v") == b"OK"
    first = my_id(trips)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        trips.call("LPUSH", "k", "x")
    assert trips.call("GET", "k") == b"v"
    assert my_id(trips) == first  # the same connection: an error reply is read whole


def test_values_of_every_kind_arrive_as_redis_py_would_send_them(trips: RoundTrip) -> None:
    values = ["é ☃ text", b"\x00\xffbytes", 0, -(2**63), 2**64, 0.1, 1e-7, 12345.678, ""]
    trips.call("RPUSH", "values", *values)
    expected = redis.Redis(connection_pool=trips.client.connection_pool)
    expected.rpush("expected", *values)
    assert trips.call("LRANGE", "values", 0, -1) == expected.lrange("expected", 0, -1)
    assert trips._pin().hiredis  # the direct packing was the one used


def test_a_connection_redis_closed_is_reconnected_before_the_command_is_sent(
    trips: RoundTrip, redis_client: redis.Redis
) -> None:
    first = my_id(trips)
    assert redis_client.client_kill_filter(_id=first) == 1
    # Redis closed it while idle (a restart or its idle timeout does the same): the next call
    # goes through on a new connection instead of failing (which would spool the event).
    assert trips.call("INCR", "n") == 1
    assert my_id(trips) != first
    assert redis_client.get("n") == b"1"


def test_a_reply_not_read_in_time_never_reaches_the_next_call(redis_url: str) -> None:
    trips = RoundTrip(redis.Redis.from_url(redis_url, socket_timeout=0.03), spin=0.0002)
    first = my_id(trips)
    with pytest.raises(redis.TimeoutError):
        trips.call("EVAL", busy_for(redis_url, 100_000), 0)  # its reply comes after the timeout
    deadline = time.monotonic() + 5
    while True:  # Redis answers again once the script ends
        try:
            answer = trips.call("ECHO", "mine")
            break
        except redis.TimeoutError:
            assert time.monotonic() < deadline
    assert answer == b"mine"  # not the late reply of the timed-out call
    assert my_id(trips) != first


def test_each_thread_has_its_own_connection_and_gives_it_back_when_it_ends(
    trips: RoundTrip, redis_client: redis.Redis
) -> None:
    ids: list[int] = []

    def work() -> None:
        ids.append(my_id(trips))
        ids.append(my_id(trips))

    for _ in range(20):  # a server that starts a thread per request
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert all(ids[i] == ids[i + 1] for i in range(0, len(ids), 2))  # pinned within a thread
    pool = trips.client.connection_pool
    # Every ended thread's connection went back to the pool and was reused: one in all.
    assert len(set(ids)) == 1
    assert len(pool._in_use_connections) == 0  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)

    def together() -> None:
        barrier.wait()
        ids.append(my_id(trips))
        barrier.wait()

    threads = [threading.Thread(target=together) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids[-1] != ids[-2]  # two live threads never share one


def test_a_forked_child_never_uses_its_parents_connection(trips: RoundTrip) -> None:
    parent = my_id(trips)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its connection's id and whether the call worked
        try:
            os.write(write, str(my_id(trips)).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = int(os.read(read, 64) or b"0")
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child not in (0, parent)
    assert my_id(trips) == parent  # the child did not close the parent's socket


def test_a_transaction_gives_each_answer_in_place_and_raises_when_refused_whole(
    trips: RoundTrip,
) -> None:
    trips.call("SET", "s", "text")
    answers = trips.transaction([("INCR", "n"), ("LPUSH", "s", "x"), ("INCR", "n")])
    assert answers[0] == 1 and answers[2] == 2
    assert isinstance(answers[1], redis.ResponseError) and "WRONGTYPE" in str(answers[1])
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        trips.transaction([("INCR", "n"), ("INCR",)])
    assert trips.call("GET", "n") == b"2"  # nothing of the refused one ran
    assert trips.call("PING") == b"PONG"  # and the connection is clean


def test_the_spin_stops_while_replies_take_longer_than_it_and_resumes_after(
    trips: RoundTrip, redis_url: str
) -> None:
    trips.spin = 0.0002  # as on two or more cores, whatever this machine has
    busy = busy_for(redis_url, 2000)
    for _ in range(12):
        trips.call("EVAL", busy, 0)  # slower than the spin
    assert trips.within < 0.5  # stopped: a remote or busy Redis would only burn CPU
    deadline = time.monotonic() + 10
    while trips.within < 0.5 and time.monotonic() < deadline:
        trips.call("PING")
    assert trips.within >= 0.5  # loopback replies again: spinning pays again


def test_no_spin_on_a_single_core(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    trips = RoundTrip(redis.Redis.from_url(redis_url), spin=0.0002)
    assert trips.spin == 0
    assert trips.call("PING") == b"PONG"
