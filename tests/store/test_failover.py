"""A master demoted under open connections, behind one address that then leads to the new
master (a managed endpoint): redis-py alone keeps writing to the demoted node (READONLY each
time); our connections drop themselves on that reply and the call is sent again, so a worker's
script, a plain command and track() all land on the new master, within their wait."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.fleet.proxy import Endpoint
from tests.helpers import enqueue_call
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.errors import StoreUnavailable
from tracking_worker.keys import Keys
from tracking_worker.producer.async_tracker import AsyncTracker
from tracking_worker.producer.tracker import Tracker
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store import failover
from tracking_worker.store.connection import worker_client
from tracking_worker.store.lua_scripts import Scripts

KEYS = Keys("graspil")


@dataclass
class Pair:
    old: EmbeddedRedis
    new: EmbeddedRedis
    endpoint: Endpoint

    def settings(self, tmp_path: Path) -> Settings:
        return load_settings(
            {
                "redis": {"url": self.endpoint.url, "socket_timeout": 1.0},
                "producer": {"spool_dir": str(tmp_path / "spool")},
                "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
            },
            environ={},
        )

    def fail_over(self) -> None:
        """A planned failover: the replica first has what the master acknowledged (these tests
        are about where writes go after it; losing writes to lag is test_managed_endpoint's).
        The promoted node has none of our scripts: they must be loaded there, not through
        whatever pooled connection still leads to the demoted one."""
        old = self.old.client()
        try:
            assert old.execute_command("WAIT", 1, 5000) == 1, "the replica never caught up"
        finally:
            old.close()
        self.new.follow(None)
        new = self.new.client()
        try:  # as Valkey's promoted replicas are, and a Redis replica restarted since the load
            new.script_flush()
        finally:
            new.close()
        self.old.follow(self.new)
        self.endpoint.switch(self.new.port)

    def pending_on_new(self) -> int:
        client = self.new.client()
        try:
            return int(client.llen(KEYS.pending))
        finally:
            client.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    old = EmbeddedRedis(tmp_path / "old", appendonly=False).start()
    new = EmbeddedRedis(tmp_path / "new", appendonly=False).start()
    new.follow(old)
    endpoint = Endpoint(old.port).start()
    yield Pair(old, new, endpoint)
    endpoint.stop()
    old.stop()
    new.stop()


def test_redis_py_alone_keeps_writing_to_the_demoted_node(pair: Pair) -> None:
    """What our connections are for: a plain client's connection stays on the old master."""
    client = redis.Redis.from_url(pair.endpoint.url)
    client.set("k", "1")
    pair.fail_over()
    for _ in range(3):
        with pytest.raises(redis.exceptions.ReadOnlyError):
            client.set("k", "2")
    client.close()


def test_a_worker_script_refused_with_readonly_reaches_the_new_master(
    pair: Pair, tmp_path: Path
) -> None:
    client, scripts = worker_client(pair.settings(tmp_path)), Scripts()
    scripts.call(client, enqueue_call(["{}"]), KEYS)  # its pinned connection: to the old one
    pair.fail_over()
    scripts.call(client, enqueue_call(["{}"]), KEYS)  # READONLY inside the script, then again
    assert pair.pending_on_new() == 2
    client.close()


def test_a_plain_command_refused_with_readonly_reaches_the_new_master(
    pair: Pair, tmp_path: Path
) -> None:
    client = worker_client(pair.settings(tmp_path))
    client.set("k", "1")
    pair.fail_over()
    client.set("k", "2")
    new = pair.new.client()
    assert new.get("k") == b"2"
    new.close()
    client.close()


def test_track_reaches_the_new_master_without_spooling(pair: Pair, tmp_path: Path) -> None:
    tracker = Tracker(pair.settings(tmp_path))
    tracker.trigger = lambda provider: None
    tracker.track("purchase", telegram_id=1)
    pair.fail_over()
    tracker.track("purchase", telegram_id=2)
    assert not tracker.spool.has_events()
    assert pair.pending_on_new() == 2
    tracker.close()


def test_atrack_reaches_the_new_master_without_spooling(pair: Pair, tmp_path: Path) -> None:
    tracker = Tracker(pair.settings(tmp_path))
    tracker.trigger = lambda provider: None

    async def calls() -> None:
        async with AsyncTracker(tracker=tracker) as atracker:
            await atracker.track("purchase", telegram_id=1)
            pair.fail_over()
            await atracker.track("purchase", telegram_id=2)

    asyncio.run(calls())
    assert not tracker.spool.has_events()
    assert pair.pending_on_new() == 2
    tracker.close()


def test_a_node_that_stays_a_replica_ends_the_call_within_its_wait(
    pair: Pair, tmp_path: Path
) -> None:
    """The old master demoted, the address still leading to it: retried, then given up."""
    client = worker_client(pair.settings(tmp_path), timeout=0.5)
    Scripts().call(client, enqueue_call(["{}"]), KEYS)
    pair.new.follow(None)
    pair.old.follow(pair.new)
    with pytest.raises(StoreUnavailable, match="not a writable master"):
        Scripts().call(client, enqueue_call(["{}"]), KEYS)
    client.close()


@pytest.mark.parametrize(
    ("reply", "refused"),
    [
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), True),
        (redis.ResponseError("@user_script:114: -READONLY You can't write against a"), True),
        (redis.ResponseError("MASTERDOWN Link with MASTER is down"), True),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), True),
        (redis.ResponseError("UNBLOCKED force unblock from blocking operation"), True),
        (redis.ResponseError("NOREPLICAS Not enough good replicas to write."), True),
        (redis.ResponseError("ERR wrong number of arguments"), False),
        (redis.ResponseError("WRONGTYPE Operation against a key"), False),
        (redis.exceptions.OutOfMemoryError("command not allowed when used memory"), False),
        (redis.ConnectionError("Connection refused"), False),
    ],
)
def test_which_replies_say_the_node_is_not_a_writable_master(
    reply: Exception, refused: bool
) -> None:
    assert failover.not_master(reply) is refused


def test_the_backoff_doubles_up_to_its_cap_and_never_overflows() -> None:
    assert [failover.delay(n) for n in (1, 2, 3)] == [0.02, 0.04, 0.08]
    assert failover.delay(10) == failover.MAX_DELAY
    assert failover.delay(10**9) == failover.MAX_DELAY


def test_a_command_that_did_not_run_is_retried_until_the_deadline() -> None:
    now = [0.0]
    tries: list[float] = []

    def attempt() -> None:
        tries.append(now[0])
        now[0] += 0.1
        raise failover.NotRun("refused")

    with pytest.raises(failover.NotRun):
        failover.retry_not_run(attempt, deadline=0.5, clock=lambda: now[0])
    assert 2 <= len(tries) <= 5
    assert tries[-1] < 0.5
