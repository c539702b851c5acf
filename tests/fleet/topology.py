"""A Redis that fails over, as production runs one: a master, one replica and three sentinels
(quorum 2) on free loopback ports, every node and sentinel behind a password. A master that
stops answering is down after ``DOWN_AFTER_MS``, and the sentinels promote the replica."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.helpers import wait_for
from tracking_worker.devtools import EmbeddedRedis, EmbeddedSentinel, Watch

NAME = "tw-master"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
PASSWORD = "node-secret-1"
SENTINEL_PASSWORD = "sentinel-secret-2"


class SentinelGroup:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.nodes = [
            EmbeddedRedis(home / f"node{i}", password=PASSWORD, appendonly=True) for i in range(2)
        ]
        self.sentinels: list[EmbeddedSentinel] = []

    def start(self) -> SentinelGroup:
        for node in self.nodes:
            node.start()
        self.nodes[1].follow(self.nodes[0])
        watch = Watch(
            NAME,
            self.nodes[0].port,
            quorum=2,
            down_after_ms=DOWN_AFTER_MS,
            failover_timeout_ms=FAILOVER_TIMEOUT_MS,
            master_password=PASSWORD,
            password=SENTINEL_PASSWORD,
        )
        self.sentinels = [
            EmbeddedSentinel(self.home / f"sentinel{i}", watch).start() for i in range(3)
        ]
        for sentinel in self.sentinels:
            sentinel.wait_ready(sentinels=3, replicas=1)
        return self

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The ``[redis]`` section of a deployment on this group: its host in ``url`` is a
        placeholder (the sentinels name the master); the password and database count."""
        return {
            "url": f"redis://:{PASSWORD}@{NAME}/0",
            "sentinels": [s.address for s in self.sentinels],
            "master_name": NAME,
            "sentinel_password": SENTINEL_PASSWORD,
            **extra,
        }

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                found = sentinel.master()
            except Exception:  # noqa: BLE001 - a sentinel down: ask the next
                continue
            if found is not None:
                return found[1]
        return None

    def node(self, port: int) -> EmbeddedRedis:
        return next(node for node in self.nodes if node.port == port)

    def master(self) -> EmbeddedRedis:
        port = self.master_port()
        assert port is not None
        return self.node(port)

    def kill_master(self) -> tuple[EmbeddedRedis, float]:
        """kill -9 of the master: nothing flushed. Returns it and when (time.time())."""
        node = self.master()
        node.kill()
        return node, time.time()

    def wait_promoted(self, old: EmbeddedRedis, timeout: float = 30.0) -> float:
        """Until every sentinel names another master; returns when (time.time())."""

        def moved() -> bool:
            ports = set()
            for sentinel in self.sentinels:
                found = sentinel.master()
                ports.add(found[1] if found else None)
            return ports == {next(n.port for n in self.nodes if n is not old)}

        wait_for(moved, timeout, interval=0.02, message="the sentinels promote the replica")
        return time.time()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes:
            node.stop()
