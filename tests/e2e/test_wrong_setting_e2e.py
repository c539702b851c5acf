"""A wrong per-name setting pauses that name's route, not the line: a Graspil target_id the
provider does not know and a Giosg goal that does not exist. The other names and providers keep
delivering, nothing is dead-lettered, and a worker started with the right settings delivers
every kept event once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer
from tracking_worker.sandbox.graspil import DEMO_TARGETS
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.routes import Routes

N = 12
WRONG_GOAL = "0badc0de-0000-4000-8000-000000000000"


def events(name: str, first: int) -> list[dict[str, Any]]:
    return [
        {"name": name, "telegram_id": n, "visitor_id": f"visitor-{n}"}
        for n in range(first, first + N)
    ]


def routes(system: System, provider: str) -> Routes:
    queue = system.queue(provider)
    return Routes(queue.client, Scripts(), queue.keys)


def test_wrong_target_and_goal_pause_their_routes_then_deliver_once_when_fixed(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    goals = sandbox.credentials("giosg")["goals"]
    # 999 is no goal of the sandbox's bot: it answers "Unknown target_id", as Graspil would.
    wrong = {
        "graspil": {"targets": {**DEMO_TARGETS, "registration": 999}},
        "giosg": {"goals": {"purchase": goals[0], "registration": WRONG_GOAL}},
    }
    system = make_system(providers=["graspil", "giosg"], provider_overrides=wrong)
    system.tracker.track_many(events("purchase", 1) + events("registration", 101))

    def paused_and_rest_delivered() -> bool:
        return all(
            "registration" in routes(system, p).paused()
            and system.counts(p)["delivered"] == N
            and routes(system, p).parked().get("registration") == N
            for p in ("graspil", "giosg")
        )

    wait_for(paused_and_rest_delivered, 20, interval=0.2, message="routes paused, rest delivered")
    for provider in ("graspil", "giosg"):
        assert system.counts(provider)["dead"] == 0
    pause = routes(system, "graspil").paused()["registration"]
    assert (pause.setting, "Unknown target_id" in pause.reason) == ("targets", True)
    assert routes(system, "giosg").paused()["registration"].setting == "goals"

    system.stop()  # the operator fixes the settings and restarts the worker
    fixed = {
        "graspil": {"targets": dict(DEMO_TARGETS)},
        "giosg": {"goals": {"purchase": goals[0], "registration": goals[1]}},
    }
    # Nothing else is pending: beat's tick alone (its process resumes the routes the changed
    # settings fixed, once) must start the runs that deliver the parked events.
    restarted = make_system(providers=["graspil", "giosg"], provider_overrides=fixed)
    wait_for(
        lambda: all(restarted.counts(p)["delivered"] == 2 * N for p in ("graspil", "giosg")),
        20,
        interval=0.2,
        message=restarted.log(),
    )
    got = sorted(i["user_id"] for i in sandbox.received("graspil"))
    assert got == list(range(1, N + 1)) + list(range(101, 101 + N))  # each once
    visitors = sorted(i["visitor_identity"] for i in sandbox.received("giosg"))
    assert len(visitors) == len(set(visitors)) == 2 * N
    for provider in ("graspil", "giosg"):
        assert restarted.counts(provider)["dead"] == 0
        assert routes(restarted, provider).paused() == {}
