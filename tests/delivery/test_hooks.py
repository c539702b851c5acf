"""``before_send``: the user's function between the queue and one provider. Loaded by path,
it changes, drops (None or Drop, with the reason counted and receipted) or fails on an event
(that event alone dead-lettered, kind hook), in a real worker against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.delivery.hook_examples import BROKEN, NO_CONSENT, SAMPLED_OUT
from tests.helpers import wait_for
from tests.system import System
from tracking_worker import ConfigurationError
from tracking_worker.delivery.hooks import load_hook
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import load_settings
from tracking_worker.store.receipts import receipt_of

N = 20


def graspil_with(hook: str) -> dict[str, object]:
    return {
        "providers": {
            "graspil": {**provider_settings("http://127.0.0.1:9")["graspil"], "before_send": hook}
        }
    }


@pytest.mark.parametrize(
    ("hook", "problem"),
    [
        ("tests.delivery.no_such_module:shape", "cannot load"),
        ("tests.delivery.hook_examples:missing", "cannot load"),
        ("tests.delivery.hook_examples:not_a_function", "is not a function"),
    ],
    ids=["module", "name", "not-callable"],
)
def test_a_hook_that_does_not_load_stops_the_worker_naming_the_key(hook: str, problem: str) -> None:
    provider = load_settings(graspil_with(hook), environ={}).build_providers()["graspil"]
    with pytest.raises(ConfigurationError, match=rf"providers.graspil.before_send: .*{problem}"):
        load_hook(provider)


def test_a_path_that_is_no_dotted_name_is_refused_at_load() -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.graspil\.before_send"):
        load_settings(graspil_with("not a path!"), environ={})


def test_a_worker_runs_the_hook_per_event(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(
        providers=["graspil", "grampixel"],
        provider_overrides={"graspil": {"before_send": "tests.delivery.hook_examples:shape"}},
    )
    ids = system.tracker.track_many(
        [
            {
                "name": "purchase",
                "telegram_id": n,
                "value": 10,
                "currency": "usd",
                "ad_session_id": f"gp_{n}",
            }
            for n in range(1, N + 1)
        ]
    )
    wait_for(
        lambda: system.settled("graspil", N - 2) and system.settled("grampixel", N),
        30,
        message=system.log(),
    )
    received = {item["user_id"]: item for item in sandbox.received("graspil")}
    assert sorted(received) == sorted(set(range(1, N + 1)) - {NO_CONSENT, SAMPLED_OUT, BROKEN})
    assert {item["value"] for item in received.values()} == {20}  # changed by the hook
    assert len(sandbox.received("grampixel")) == N  # another provider: no hook, all sent
    counts = system.counts("graspil")
    assert (counts["delivered"], counts["dropped"], counts["dead"]) == (N - 3, 2, 1)
    [dead] = system.queue("graspil").dead_letters()
    assert json.loads(dead["event"])["telegram_id"] == BROKEN
    assert dead["kind"] == "hook" and "RuntimeError: the hook's own bug" in dead["reason"]
    client = system.queue("graspil").client
    no_consent = receipt_of(client, system.settings, ids[NO_CONSENT - 1])["graspil"]
    assert no_consent["state"] == "dropped"
    assert no_consent["reason"] == "before_send: no consent for graspil"
    sampled = receipt_of(client, system.settings, ids[SAMPLED_OUT - 1])["graspil"]
    assert (sampled["state"], sampled["reason"]) == ("dropped", "before_send: dropped")
