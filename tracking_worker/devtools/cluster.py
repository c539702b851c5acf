"""A Redis Cluster on this machine, as production runs one for the event store: masters on free
loopback ports, the 16,384 slots split between them (CLUSTER ADDSLOTS) and the nodes introduced
to each other (CLUSTER MEET); and a plain Redis beside it for Celery's broker. For the tests
and benchmarks (``tests/fleet``, ``benchmarks/cluster_producer.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from redis.crc import key_slot

from .redis_server import EmbeddedRedis

SLOTS = 16384


class EmbeddedCluster:
    def __init__(self, home: Path, masters: int = 3) -> None:
        self.nodes = [EmbeddedRedis(home / f"node{i}", cluster=True) for i in range(masters)]
        self.broker = EmbeddedRedis(home / "broker", appendonly=False)

    def start(self, timeout: float = 30.0) -> EmbeddedCluster:
        for node in [*self.nodes, self.broker]:
            node.start()
        for i, node in enumerate(self.nodes):
            with node.client() as client:
                client.execute_command("CLUSTER ADDSLOTS", *self.slots(i))
                if i:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the cluster's state was not ok on every node in {timeout}s")
            time.sleep(0.05)
        return self

    def ready(self) -> bool:
        """Every node sees every master and all slots served (``cluster_state:ok``)."""
        for node in self.nodes:
            with node.client(decode_responses=True) as client:
                info = client.execute_command("CLUSTER INFO")
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                    return False
        return True

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The ``[redis]`` section of a deployment on this cluster: one node in ``url``, the
        others as more startup nodes, Celery's broker on the plain Redis."""
        return {
            "url": self.nodes[0].url,
            "cluster": True,
            "cluster_nodes": [f"127.0.0.1:{node.port}" for node in self.nodes[1:]],
            "broker_url": self.broker.url,
            **extra,
        }

    def flush(self) -> None:
        """Every node and the broker emptied (rq's way: each test starts from nothing)."""
        for node in [*self.nodes, self.broker]:
            with node.client() as client:
                client.flushall()

    def holder(self, key: str) -> EmbeddedRedis:
        """The node whose slots hold ``key``."""
        slot = key_slot(key.encode())
        return next(node for i, node in enumerate(self.nodes) if slot in self.slots(i))

    def slots(self, index: int) -> range:
        """The slots node ``index`` was given."""
        count = len(self.nodes)
        return range(index * SLOTS // count, (index + 1) * SLOTS // count)

    def stop(self) -> None:
        for node in [*self.nodes, self.broker]:
            node.stop()
