"""A private Redis Sentinel: the same redis-server binary in sentinel mode (``--sentinel``),
watching one master, for the tests and benchmarks of a Redis that fails over."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from ..errors import ConfigurationError
from ..store.connection import as_text
from .redis_server import free_port, redis_binary
from .supervisor import Child


@dataclass(frozen=True)
class Watch:
    """What a sentinel watches and how quickly it acts."""

    name: str
    master_port: int
    #: Sentinels that must agree the master is down before one fails it over.
    quorum: int = 2
    #: The master unanswered this long is down (production default: 30 s).
    down_after_ms: int = 1000
    failover_timeout_ms: int = 3000
    #: The master's password (``sentinel auth-pass``), and the sentinels' own.
    master_password: str = ""
    password: str = ""


class EmbeddedSentinel:
    """Starts and stops one sentinel child process on loopback."""

    def __init__(self, data_dir: str | Path, watch: Watch, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.watch = watch
        self.port = port or free_port()
        self.child: Child | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.watch.password or None, **kwargs)

    def start(self) -> EmbeddedSentinel:
        """Writes its config (a sentinel rewrites it as it learns the group) and starts."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "sentinel.conf"
        conf.write_text(self._config(), encoding="utf-8")
        self.child = Child("redis-sentinel", [redis_binary(), str(conf), "--sentinel"]).start()
        return self

    def _config(self) -> str:
        w, name = self.watch, self.watch.name
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {self.data_dir.resolve()}",
            f"logfile {(self.data_dir / 'sentinel.log').resolve()}",
            f"sentinel monitor {name} 127.0.0.1 {w.master_port} {w.quorum}",
            f"sentinel down-after-milliseconds {name} {w.down_after_ms}",
            f"sentinel failover-timeout {name} {w.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]
        if w.master_password:
            lines.append(f"sentinel auth-pass {name} {w.master_password}")
        if w.password:  # its own, and what it gives the other sentinels
            lines += [f"requirepass {w.password}", f"sentinel sentinel-pass {w.password}"]
        return "\n".join(lines) + "\n"

    def master(self) -> tuple[str, int] | None:
        """The master's address as this sentinel knows it now."""
        client = self.client(socket_timeout=1)
        try:
            found: Any = client.sentinel_get_master_addr_by_name(self.watch.name)
        finally:
            client.close()
        return (as_text(found[0]), int(found[1])) if found else None

    def wait_ready(self, sentinels: int, replicas: int, timeout: float = 15.0) -> None:
        """Until this sentinel knows the master, ``sentinels - 1`` other sentinels and
        ``replicas`` replicas: only then can the group fail over."""
        client = self.client(socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    state: Any = client.sentinel_master(self.watch.name)
                    if (
                        state["num-other-sentinels"] >= sentinels - 1
                        and state["num-slaves"] >= replicas
                    ):
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.1)  # polling the sentinel within the deadline
        finally:
            client.close()
        raise ConfigurationError(f"sentinel on {self.port}: group not formed in {timeout}s")

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None
