"""A "not yet" answer through Redis, a real Celery worker and the sandbox: VibeTrace does not
know the user yet, the event is tried again on ``delivery.not_yet_delays`` and delivered once the
user exists, or dead with VibeTrace's words once the schedule is used up."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.test_providers_e2e import event
from tests.helpers import wait_for
from tests.system import System
from tracking_worker.sandbox import SandboxServer

#: Three tries a second apart: the test stays short and the schedule is still a schedule.
SHORT = {"not_yet_delays": [1, 1]}


def statuses(sandbox: SandboxServer, email: str) -> list[int]:
    """What VibeTrace answered each request about ``email``, in order."""
    return [
        r["status"]
        for r in sandbox.requests("vibetrace")
        if (r.get("body") or {}).get("user", {}).get("email") == email
    ]


def test_an_unknown_user_is_retried_and_delivered_once_the_user_exists(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    email = "user300@example.test"
    sandbox.set_credentials("vibetrace", unknown_users=[email])
    system = make_system(providers=["vibetrace"], delivery=SHORT)
    system.tracker.track(**event(300))
    wait_for(lambda: statuses(sandbox, email)[:1] == [400], 30, message=system.log())
    sandbox.set_credentials("vibetrace", unknown_users=[])  # the site's tracker created the user
    wait_for(lambda: system.settled("vibetrace", 1), 30, message=system.log())

    counts = system.counts("vibetrace")
    assert (counts["delivered"], counts["dead"]) == (1, 0)
    answered = statuses(sandbox, email)
    assert answered[-1] == 200 and 400 in answered and len(answered) <= 3


def test_a_user_that_never_appears_is_dead_after_the_schedule_with_vibetraces_words(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    email = "user301@example.test"
    sandbox.set_credentials("vibetrace", unknown_users=[email])
    system = make_system(providers=["vibetrace"], delivery=SHORT)
    system.tracker.track(**event(301))
    wait_for(lambda: system.settled("vibetrace", 1), 30, message=system.log())

    assert statuses(sandbox, email) == [400, 400, 400]  # the first try and one per delay
    counts = system.counts("vibetrace")
    assert (counts["delivered"], counts["dead"]) == (0, 1)
    [dead] = system.queue("vibetrace").dead_letters()
    assert dead["kind"] == "not_yet"
    assert "User not found" in dead["reason"]
    assert dead["reason"].endswith("(not yet after 3 tries)")
