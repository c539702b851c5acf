"""Redis up but refusing commands (out of memory, a read-only replica, a busy script) under a
running worker and beat: neither process dies, neither logs more than a line a minute per
component, and once Redis accepts writes again every event is delivered once, no restart."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis

from tests.faults.accounting import account, report
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.devtools import EmbeddedRedis, free_port
from tracking_worker.sandbox import SandboxServer

EVENTS = 3000
#: How long Redis refuses: a dozen beat ticks (flush_interval 0.5 s, a tick per 0.25 s).
HOLD = 3.0


def refusals(admin: redis.Redis, code: str) -> int:
    """How many commands Redis has answered with ``code`` (OOM, READONLY, ...) so far."""
    stats = admin.info("errorstats")
    return int(stats.get(f"errorstat_{code}", {}).get("count", 0))


class Filler:
    """Another tenant of the same Redis: maxmemory just above what is used, then junk written
    until Redis refuses, and again whenever a delivery frees some, until the limit is lifted."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, admin: redis.Redis) -> None:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 256 * 1024)
        client = redis.Redis(connection_pool=admin.connection_pool)
        self.thread = threading.Thread(target=self.fill, args=(client,))
        self.thread.start()
        wait_for(lambda: refusals(admin, "OOM"), 10, message="Redis at maxmemory")

    def fill(self, client: redis.Redis) -> None:
        junk, n = b"x" * 16 * 1024, 0
        while not self.stop.is_set():
            try:
                client.set(f"junk:{n}", junk)
                n += 1
            except (redis.exceptions.OutOfMemoryError, redis.ConnectionError):
                self.stop.wait(0.01)  # pacing the filler while Redis is full

    def end(self, admin: redis.Redis) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        admin.config_set("maxmemory", 0)


def follow_nobody(admin: redis.Redis) -> None:
    """A replica of a port nobody listens on: its data stays, and it refuses every write."""
    admin.execute_command("REPLICAOF", "127.0.0.1", free_port())


def promote(admin: redis.Redis) -> None:
    admin.execute_command("REPLICAOF", "NO", "ONE")


@dataclass(frozen=True)
class Fault:
    code: str  # what Redis answers while it lasts, as INFO errorstats counts it
    start: Callable[[redis.Redis], None]
    end: Callable[[redis.Redis], None]


def faults() -> dict[str, Fault]:
    filler = Filler()
    return {
        "oom": Fault("OOM", filler.start, filler.end),
        "readonly": Fault("READONLY", follow_nobody, promote),
    }


def produce(system: System) -> list[int]:
    ids = list(range(1, EVENTS + 1))
    for start in range(0, EVENTS, 100):
        system.tracker.track_many(
            [
                {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
                for n in ids[start : start + 100]
            ]
        )
    return ids


def full_log(system: System) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(system.home.glob("*.log")))


@pytest.mark.parametrize("fault", ["oom", "readonly"])
def test_worker_and_beat_ride_out_a_refusing_redis(
    fault: str,
    make_system: Callable[..., System],
    sandbox: SandboxServer,
    private_redis: EmbeddedRedis,
) -> None:
    chosen = faults()[fault]
    sandbox.set_latency("graspil", 0.2)  # batches in flight when Redis starts refusing
    system = make_system(providers=["graspil"], redis_url=private_redis.url)
    assert system.worker is not None and system.beat is not None
    pids = (system.worker.pid, system.beat.pid)
    system.wait_worker_ready()
    admin = redis.Redis.from_url(private_redis.url)
    produced = produce(system)
    wait_for(lambda: system.counts("graspil")["leased_batches"], 20, message="a batch in flight")
    chosen.start(admin)
    # The worker's broker connection drops too, as behind a proxy or in a failover: its
    # reconnect declares the queues, which a refusing Redis answers with an error.
    admin.client_kill_filter(_type="normal", skipme=True)
    before, started = refusals(admin, chosen.code), time.monotonic()
    wait_for(
        lambda: (
            refusals(admin, chosen.code) >= before + 20
            or not (system.worker and system.worker.alive and system.beat and system.beat.alive)
        ),
        20,
        message=f"Redis refused 20 commands ({chosen.code})",
    )
    pause_until(started + HOLD)  # the fault's length, by the test's schedule
    alive = (system.worker.alive, system.beat.alive)
    assert alive == (True, True), f"worker, beat alive: {alive}\n{system.log()}"
    chosen.end(admin)
    wait_for(lambda: system.settled("graspil", EVENTS), 40, message=system.log())
    assert (system.worker.pid, system.beat.pid) == pids
    assert system.worker.alive and system.beat.alive
    dead = [json.loads(d["event"])["telegram_id"] for d in system.queue("graspil").dead_letters()]
    ledger = account(produced, [i["user_id"] for i in sandbox.received("graspil")], dead)
    report(ledger, f"redis refusing ({chosen.code}, {refusals(admin, chosen.code)} refused)")
    assert (ledger.lost, ledger.dead, ledger.duplicates) == (0, 0, 0)
    assert ledger.delivered == EVENTS
    logged = full_log(system)
    assert "Traceback" not in logged, logged
    said = Counter(re.findall(r"/(\S+)\] (.+?): Redis unavailable or refusing", logged))
    assert max(said.values(), default=0) <= 1, said  # once a minute per component and process
    if fault == "oom":  # waiting is what cures it: the worker's components say so
        assert said, logged
    # READONLY is what a failover answers: a worker's commands reconnect and retry for up to
    # 10 s (store/failover.py), so this 3 s spell is ridden out without a word.
    admin.close()
