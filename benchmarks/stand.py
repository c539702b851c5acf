"""The test stand: a private redis-server, the provider fake in its own process, and timed runs
of one system against them (enqueue latency, a burst, a backlog drain)."""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import redis

from benchmarks.procstat import (
    group_cpu_seconds,
    group_members,
    machine_busy_seconds,
    self_cpu_seconds,
)
from benchmarks.systems import System, events
from tracking_worker.devtools import Child, EmbeddedRedis, free_port
from tracking_worker.keys import tick_key

FAKE = Path(__file__).resolve().parent / "fake_provider.py"
POLL = 0.02


class Stand:
    """Owns redis-server and the fake; ``fresh()`` empties both between runs."""

    def __init__(self, home: Path) -> None:
        self.home = home
        # No append-only file: its fsyncs and rewrites would add disk noise to every system.
        self.redis = EmbeddedRedis(home / "redis", appendonly=False).start()
        self.client = redis.Redis.from_url(self.redis.url)
        self.fake_port = free_port()
        self.fake = Child(
            "fake-provider",
            [sys.executable, str(FAKE), "--port", str(self.fake_port)],
            log_path=home / "fake.log",
        ).start()
        self.fake_url = f"http://127.0.0.1:{self.fake_port}"
        self._conn: http.client.HTTPConnection | None = None
        self._wait_fake()

    def _wait_fake(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.control("GET", "/_health")
                return
            except OSError:
                self._conn = None
                time.sleep(0.05)
        raise RuntimeError(f"the provider fake did not start; see {self.home / 'fake.log'}")

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call to the fake's control API over a kept-alive connection."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.fake_port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self._conn.request(method, path, body=data, headers=headers)
        answer = self._conn.getresponse()
        payload = json.loads(answer.read())
        if answer.status != 200:
            raise RuntimeError(f"fake {path}: {answer.status} {payload}")
        return payload

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "/_stats"))

    def fresh(self, latency: float = 0.0) -> None:
        """Empty Redis and the fake's counters; set the fake's latency (seconds)."""
        self.client.flushall()
        self.control("POST", "/_reset", {})
        self.control("POST", "/_latency", {"seconds": latency})

    def tick_age(self) -> float:
        """Seconds since beat's last tick (Redis time; ``tw:tick``), 0 before the first."""
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.get(tick_key())
        (seconds, micros), tick = pipe.execute()
        return seconds + micros / 1e6 - float(tick) if tick else 0.0

    def redis_cpu_seconds(self) -> float:
        """CPU seconds of redis-server (its Lua scripts included)."""
        assert self.redis.child is not None
        return group_cpu_seconds(self.redis.child.pid)

    def own_cpu_seconds(self) -> float:
        """CPU seconds of the stand itself: redis-server, the fake and this process."""
        return self.redis_cpu_seconds() + group_cpu_seconds(self.fake.pid) + self_cpu_seconds()

    def key_bytes(self) -> int:
        """The bytes of every key in Redis (``MEMORY USAGE``, all elements counted): what a
        system's data holds, without allocator slack or client buffers."""
        total = 0
        for key in self.client.scan_iter(count=1000):
            total += int(self.client.memory_usage(key, samples=0) or 0)
        return total

    def used_memory(self) -> tuple[int, int]:
        """INFO memory: used_memory and the part held by normal clients' buffers."""
        info = self.client.info("memory")
        return int(info["used_memory"]), int(info.get("mem_clients_normal", 0))

    def stop(self) -> None:
        self.client.close()
        if self._conn is not None:
            self._conn.close()
        self.fake.stop()
        self.redis.stop()


def stop(children: list[Child], timeout: float = 10.0) -> None:
    """SIGKILL each child's process group (measured already; a warm shutdown would wait out a
    20 s delivery run) and wait until none of their processes is left."""
    groups = [child.pid for child in children if child.alive]
    for child in reversed(children):
        child.kill()
    deadline = time.monotonic() + timeout
    while any(group_members(pgid) for pgid in groups) and time.monotonic() < deadline:
        time.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=1000, method="inclusive")[round(q * 1000) - 1]


def enqueue_latency(stand: Stand, system: System, calls: int, warmup: int) -> dict[str, Any]:
    """Seconds per ``track`` of one event (Graspil configured, no worker running)."""
    stand.fresh()
    system.use("graspil")
    batch = events(warmup + calls)
    for event in batch[:warmup]:
        system.track(event)
    times: list[float] = []
    clock = time.perf_counter
    for event in batch[warmup:]:
        started = clock()
        system.track(event)
        times.append(clock() - started)
    return {
        "calls": calls,
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "max_ms": max(times) * 1000,
        "ping_median_ms": ping_median(stand, calls) * 1000,
    }


def ping_median(stand: Stand, calls: int) -> float:
    """Seconds per PING on one pooled connection, sent and read directly: the loopback round
    trip that any enqueue pays at least, measured right after the calls it bounds."""
    conn = stand.client.connection_pool.get_connection()
    try:
        times: list[float] = []
        for _ in range(calls):
            started = time.perf_counter()
            conn.send_command("PING")
            conn.read_response()
            times.append(time.perf_counter() - started)
    finally:
        stand.client.connection_pool.release(conn)
    return statistics.median(times)


def burst(stand: Stand, system: System, count: int) -> dict[str, Any]:
    """One burst of ``count`` events (Graspil, no worker): events/s, and Redis bytes per pending
    event: the growth of the keys' own bytes (``MEMORY USAGE``) over ``count``, and for
    comparison the used_memory delta less the growth of client buffers (which also moves with
    the allocator's slack: it varied by ±10% between identical runs)."""
    stand.fresh()
    system.use("graspil")
    system.track(events(1, start=10**6)[0])  # connections made before the first reading
    batch = events(count)
    keys_before = stand.key_bytes()
    memory_before, buffers_before = stand.used_memory()
    started = time.perf_counter()
    system.track_many(batch)
    seconds = time.perf_counter() - started
    memory_after, buffers_after = stand.used_memory()
    grown = memory_after - memory_before
    buffers = buffers_after - buffers_before
    return {
        "events": count,
        "seconds": seconds,
        "events_per_second": count / seconds,
        "used_memory_delta": grown,
        "client_buffers_delta": buffers,
        "used_memory_bytes_per_event": (grown - buffers) / count,
        "bytes_per_event": (stand.key_bytes() - keys_before) / count,
    }


def drain(
    stand: Stand,
    system: System,
    provider: str,
    *,
    latency: float,
    backlog: int,
    concurrency: int,
    cap: float,
    run: str,
    nodes: int = 1,
) -> dict[str, Any]:
    """Pre-fill ``backlog`` events, start the workers (``nodes`` of ``concurrency`` each), and
    time deliveries (as the fake counts them) from worker start until all are in or ``cap``
    seconds have passed. Worker CPU is the first node's; ``tick_gap`` (ours) is the longest
    time since beat's last tick seen from the first delivery on."""
    stand.fresh(latency)
    system.use(provider)
    batch = events(backlog)
    started = time.perf_counter()
    system.prefill(batch)
    prefill = time.perf_counter() - started
    t0 = time.monotonic()
    children = system.start(concurrency, run, nodes)
    worker, others = children[0], children[1:]
    first: dict[str, Any] | None = None
    tick_gap: float | None = None
    try:
        while True:
            stats = stand.stats()
            delivered = int(stats["events"][provider])
            now = time.monotonic()
            if first is not None and system.key == "ours":
                tick_gap = max(tick_gap or 0.0, stand.tick_age())
            if delivered and first is None:
                first = {
                    "machine": machine_busy_seconds(),
                    "stand": stand.own_cpu_seconds(),
                    "delivered": delivered,
                    "seen_at": now,
                    "cpu": group_cpu_seconds(worker.pid),
                    "others_cpu": sum(group_cpu_seconds(c.pid) for c in others),
                    "redis_cpu": stand.redis_cpu_seconds(),
                    "fake_cpu": stats["cpu_seconds"],
                    "first_at": stats["first_at"],
                }
            if delivered >= backlog or now - t0 >= cap:
                break
            if not worker.alive:
                raise RuntimeError(f"{system.key} worker exited; see {stand.home}/{run}-*.log")
            time.sleep(POLL)
        cpu = group_cpu_seconds(worker.pid)
        others_cpu = sum(group_cpu_seconds(c.pid) for c in others)
        ended = time.monotonic()
        if first is not None:
            first["redis_cpu_used"] = stand.redis_cpu_seconds() - first["redis_cpu"]
            # Everything else the machine ran meanwhile (other users' tests, say), in cores.
            busy = machine_busy_seconds() - first["machine"]
            ours = stand.own_cpu_seconds() - first["stand"]
            ours += cpu - first["cpu"] + others_cpu - first["others_cpu"]
            first["foreign_cores"] = max(0.0, busy - ours) / max(ended - first["seen_at"], 1e-9)
    finally:
        stop(children)
    got = _drain_result(provider, stats, first, t0, ended, backlog, prefill, cpu, others_cpu)
    return {**got, "nodes": nodes, "tick_gap": tick_gap}


def _drain_result(
    provider: str,
    stats: dict[str, Any],
    first: dict[str, Any] | None,
    t0: float,
    ended: float,
    backlog: int,
    prefill: float,
    cpu: float,
    others_cpu: float,
) -> dict[str, Any]:
    delivered = int(stats["events"][provider])
    result: dict[str, Any] = {
        "backlog": backlog,
        "prefill_seconds": prefill,
        "delivered": delivered,
        "drained": delivered >= backlog,
        "requests": int(stats["requests"][provider]),
        # Anything another provider got would mean a run leaked into this one.
        "stray_events": sum(int(n) for p, n in stats["events"].items() if p != provider),
    }
    if first is None or stats["last_at"] is None:
        return {**result, "events_per_second": 0.0}
    seconds = stats["last_at"] - t0
    # From the first poll that saw a delivery (both clocks are CLOCK_MONOTONIC).
    steady_events = delivered - first["delivered"]
    steady_seconds = stats["last_at"] - first["seen_at"]
    result.update(
        seconds=seconds,
        startup_seconds=first["first_at"] - t0,
        events_per_second=delivered / seconds,
        steady_events_per_second=steady_events / steady_seconds if steady_seconds > 0 else None,
        fake_cores=(stats["cpu_seconds"] - first["fake_cpu"]) / max(ended - first["seen_at"], 1e-9),
        foreign_cores=first.get("foreign_cores"),
    )
    if steady_events > 0:
        result["cpu_per_1000"] = (cpu - first["cpu"]) / steady_events * 1000
        result["others_cpu_per_1000"] = (others_cpu - first["others_cpu"]) / steady_events * 1000
        result["redis_cpu_per_1000"] = first["redis_cpu_used"] / steady_events * 1000
    return result
