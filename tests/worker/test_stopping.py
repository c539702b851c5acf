"""Stopping: the main process's warm shutdown reaches every pool child it forks, and a SIGTERM
during a run stops the run first and ends the process after."""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

from celery import Celery, signals

from tests.helpers import wait_for
from tracking_worker.settings import load_settings
from tracking_worker.worker.process import ProcessState
from tracking_worker.worker.stopping import Stopping
from tracking_worker.worker.tasks import register


def test_a_stop_set_in_the_parent_is_seen_by_a_child_forked_before_it() -> None:
    stopping = Stopping()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: waits for the parent's stop, then says what it saw
        os.close(read)
        deadline = time.monotonic() + 10
        while not stopping() and time.monotonic() < deadline:
            os.sched_yield()
        os.write(write, b"1" if stopping() else b"0")
        os._exit(0)
    os.close(write)
    assert not stopping()
    stopping.set()
    assert os.read(read, 1) == b"1"
    assert os.waitpid(pid, 0)[1] == 0
    os.close(read)


def test_celerys_warm_shutdown_stops_the_state_the_tasks_were_registered_with() -> None:
    state = ProcessState(load_settings({"providers": {}}, environ={}), lambda p, f: None)
    register(Celery("stopping-test", set_as_current=False), state)
    assert not state.stopping()
    signals.worker_shutting_down.send(sender="test@host", sig="SIGTERM", how="Warm", exitcode=0)
    assert state.stopping()


def test_a_sigterm_during_a_run_stops_the_run_and_is_raised_again_after() -> None:
    stopping = Stopping()
    heard: list[int] = []

    def previous(signum: int, _: FrameType | None) -> None:
        heard.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with stopping.deferred_sigterm():
            assert not stopping()
            os.kill(os.getpid(), signal.SIGTERM)
            wait_for(stopping, 5, interval=0.01)  # the run sees it...
            assert heard == []  # ...and the process is not ended yet
        assert heard == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)
