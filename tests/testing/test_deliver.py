"""``tracking_sandbox`` and ``Tracked.deliver``: captured events sent now, in-process, through
the real providers, sender and transport to the sandbox, each answer classified."""

from __future__ import annotations

import tracking_worker
from tracking_worker.outcomes import Credentials, Reject, Retry
from tracking_worker.testing import Tracked, TrackingSandbox, capture, sandbox

BUYERS = (101, 102, 103)


def test_captured_events_reach_the_sandbox_and_each_answer_is_classified(
    tracking_sandbox: TrackingSandbox,
) -> None:
    tracking_sandbox.reject_matching("graspil", "user_id", 102)
    with capture(tracking_sandbox.settings) as tracked:
        for buyer in BUYERS:
            tracking_worker.track("purchase", telegram_id=buyer, value=5, currency="eur")
    assert tracked[0].requests["graspil"].url == f"{tracking_sandbox.url}/v1/send-target"
    deliveries = tracked.deliver(tracking_sandbox)
    graspil = {d.event_id: d for d in deliveries if d.provider == "graspil"}
    ids = [c.event_id for c in tracked]
    assert graspil[ids[0]].ok and graspil[ids[2]].ok
    refused = graspil[ids[1]].outcome
    assert isinstance(refused, Reject) and "The user with this id was not found" in refused.reason
    # one request of three, rejected whole, split until the bad one stood alone
    assert [item["user_id"] for item in tracking_sandbox.received("graspil")] == [101, 103]
    assert [d.ok for d in deliveries if d.provider == "grampixel"] == [True] * 3
    assert {d.provider for d in deliveries} == {"graspil", "grampixel"}  # the others skip


def test_a_fault_the_sandbox_injects_comes_back_as_a_retry(
    tracked: Tracked, tracking_sandbox: TrackingSandbox
) -> None:
    tracking_sandbox.add_fault("grampixel", 503, count=1)
    tracking_worker.track("registration", telegram_id=7, providers=["grampixel"])
    [delivery] = tracked.deliver(tracking_sandbox)
    assert isinstance(delivery.outcome, Retry) and delivery.outcome.status == 503
    assert len(tracking_sandbox.requests("grampixel")) == 1
    [again] = tracked.deliver(tracking_sandbox.settings)
    assert again.ok and len(tracking_sandbox.received("grampixel")) == 1


def test_the_sandbox_settings_carry_the_keys_it_accepts_now() -> None:
    with sandbox({"graspil": {"api_key": "rotated-key-123"}}) as running:
        assert running.providers["graspil"]["api_key"] == "rotated-key-123"
        assert running.settings.providers["graspil"].base_url == running.url
        config = running.config(redis={"url": "redis://127.0.0.1:6390/0"})
        assert config["redis"] == {"url": "redis://127.0.0.1:6390/0"}
        assert set(config["providers"]) == {
            "graspil",
            "tganalytics",
            "grampixel",
            "giosg",
            "vibetrace",
        }
        before = running.settings
        with capture(before) as tracked:
            tracking_worker.track("purchase", telegram_id=5)
        assert all(d.ok for d in tracked.deliver(running))
        running.server.set_credentials("graspil", api_key="another-key-456")
        refused = [d for d in tracked.deliver(before) if d.provider == "graspil"]
        assert [type(d.outcome) for d in refused] == [Credentials]
        assert all(d.ok for d in tracked.deliver(running))  # settings read afresh
