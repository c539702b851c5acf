"""kill -9 of the master under a steady stream to every provider, through Sentinel with
``wait_replicas = 1``: the sentinels promote the replica; no worker or beat process dies; the
workers reach the new master by themselves; delivery resumes within the promotion time + 5 s;
no event acknowledged by track() is lost; an event reaches a provider twice only if a request
carrying it was in flight around the kill.

Run slots and trigger marks replicated to the new master are heartbeated: one taken just
before the kill lapses within ``delivery.lapse_seconds`` (5 s) of its last renewal, which the
promotion time already mostly covers, so it holds no provider past the promotion + 5 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.fleet.stream import PROVIDERS, Stream, accepted, drained, received
from tests.fleet.topology import SentinelGroup
from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

#: Requests sent in this last second before the kill may have been settled on the master
#: without the replica hearing of it: they count as in flight.
REPLICATION_MARGIN = 1.0
LEASE = 10.0


@dataclass(frozen=True)
class Plan:
    rate: float
    providers: tuple[str, ...]
    warmup: float
    after_kill: float


PLANS = [
    pytest.param(Plan(50, ("graspil", "grampixel"), 1.0, 4.0), id="fast"),
    pytest.param(Plan(100, PROVIDERS, 4.0, 15.0), id="all-five", marks=pytest.mark.slow),
]


@dataclass(frozen=True)
class Figures:
    #: From the kill to the first request carrying an event tracked after it.
    outage: float
    lost: int
    duplicated: int
    #: Events of the requests sent from a second before the kill to the promotion.
    in_flight: int

    def line(self) -> str:
        return (
            f"outage {self.outage:.2f}s, lost {self.lost}, duplicated {self.duplicated}, "
            f"in flight {self.in_flight}"
        )


def figures_of(
    sandbox: SandboxServer, provider: str, tracked: dict[int, float], killed: float, promoted: float
) -> Figures:
    got = received(sandbox, provider)
    requests = accepted(sandbox, provider)
    after = [t for t, ids in requests if t > killed and any(tracked[n] > killed for n in ids)]
    in_flight = [ids for t, ids in requests if killed - REPLICATION_MARGIN <= t <= promoted]
    return Figures(
        outage=min(after) - killed,
        lost=len(set(tracked) - set(got)),
        duplicated=sum(count - 1 for count in got.values()),
        in_flight=sum(len(ids) for ids in in_flight),
    )


@pytest.mark.parametrize("plan", PLANS)
def test_kill_9_of_the_master_under_a_steady_stream(
    plan: Plan,
    own_group: SentinelGroup,
    make_system: Callable[..., System],
    sandbox: SandboxServer,
) -> None:
    redis = own_group.settings(wait_replicas=1)
    system = make_system(
        providers=list(plan.providers),
        redis_url=redis["url"],
        redis=redis,
        delivery={"lease_seconds": LEASE},
        provider_overrides={p: {"read_timeout": 5.0} for p in plan.providers},
        concurrency=4,
    )
    assert system.worker is not None and system.beat is not None
    pids = (system.worker.pid, system.beat.pid)
    system.wait_worker_ready()
    stream = Stream(system.tracker, plan.rate).start()
    pause_until(time.monotonic() + plan.warmup)
    old, killed = own_group.kill_master()
    promoted = own_group.wait_promoted(old)
    old.start()  # back as it would be restarted: the sentinels make it the new one's replica
    pause_until(time.monotonic() + max(0.0, killed + plan.after_kill - time.time()))
    stream.stop()
    wait_for(lambda: drained(system), 30, message="the spool drained into the new master")
    tracked = stream.tracked
    for provider in plan.providers:
        wait_for(
            lambda p=provider: set(received(sandbox, p)) >= set(tracked),
            60,
            message=f"{provider} got every event\n{system.log()}",
        )
    assert (system.worker.pid, system.beat.pid) == pids
    assert system.worker.alive and system.beat.alive, system.log()
    promotion = promoted - killed
    lines = [f"promotion {promotion:.2f}s after the kill; {len(tracked)} events tracked"]
    figures = {p: figures_of(sandbox, p, tracked, killed, promoted) for p in plan.providers}
    lines += [f"{p}: {f.line()}" for p, f in figures.items()]
    lines.append(
        f"spooled {system.tracker.outage.spooled}, "
        f"unreplicated enqueues {system.tracker.intake.replication.unreplicated}"
    )
    print("\n".join(lines))
    for found in figures.values():
        assert found.lost == 0, lines
        assert found.duplicated <= found.in_flight, lines
        assert found.outage <= promotion + 5, lines
    assert "Unrecoverable error" not in system.log()
