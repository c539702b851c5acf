"""Child processes of ``tracking-worker dev`` and of the tests: start, stop cleanly, kill.

Each child runs in its own process group, so stopping it also stops what it forked (Celery's
prefork pool), and a Ctrl-C in the terminal reaches only the parent, which stops them in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


class Child:
    """One supervised process; output goes to a log file so a full pipe never blocks it."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Child:
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = out = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL of the whole group after timeout."""
        if self.process is None:
            return None
        if self.alive:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        self._signal_group(signal.SIGKILL)  # strays of the group, if any
        code = self.process.returncode
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, not a shutdown."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
            self._close()

    def _signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self.process = None


#: How every Celery child starts: this interpreter, our app.
CELERY = (sys.executable, "-m", "celery", "-A", "tracking_worker")


def worker_args(
    *,
    concurrency: int = 2,
    loglevel: str = "WARNING",
    hostname: str = "tracking@%h",
    pool: str = "prefork",
) -> list[str]:
    return [
        *CELERY,
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def beat_args(schedule: Path, *, loglevel: str = "WARNING") -> list[str]:
    return [*CELERY, "beat", f"--loglevel={loglevel}", f"--schedule={schedule}"]


def sandbox_args(port: int) -> list[str]:
    return [sys.executable, "-m", "tracking_worker.sandbox", "--port", str(port)]


def wait_http(url: str, timeout: float = 15.0) -> None:
    """Until a child serving HTTP (the sandbox) answers ``url``, within ``timeout``."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=0.5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")
