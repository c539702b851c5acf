"""check, circuit, spool and tick on both systems: an empty one, and one holding a dead letter
of every provider (which none of these commands may touch)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.ops.support import ALL, cli
from tests.system import System
from tracking_worker.sandbox import SandboxServer
from tracking_worker.settings import load_settings


@pytest.mark.parametrize("which", ["empty_system", "dead_system"])
def test_the_queue_commands_on_both_systems(which: str, request: pytest.FixtureRequest) -> None:
    system: System = request.getfixturevalue(which)
    env = system.env
    checked = cli(env, "check")
    assert checked.stdout.strip() == (
        f"configuration valid; Redis reachable; providers: {', '.join(ALL)}"
    )
    checked_json = json.loads(cli(env, "check", "--json").stdout)
    assert checked_json == {"ok": True, "providers": list(ALL), "optional_refused": []}
    every = ["tracking", *(f"tracking.{p}" for p in ALL)]
    assert cli(env, "queues").stdout.strip() == ",".join(every)  # -Q "$(tracking-worker queues)"
    assert json.loads(cli(env, "queues", "--json").stdout) == every
    for provider in ALL:
        shown = json.loads(cli(env, "circuit", "show", provider, "--json").stdout)
        assert shown == {"state": "closed", "paused_routes": {}}
        assert cli(env, "circuit", "show", provider).stdout.split() == [
            "field",
            "value",
            "state",
            "closed",
        ]
    reset = cli(env, "circuit", "reset", "giosg")
    assert reset.stdout.strip().startswith("giosg: circuit closed; 0 retry batch(es) due now;")
    as_json = json.loads(cli(env, "circuit", "reset", "giosg", "--json").stdout)
    assert as_json == {"provider": "giosg", "retry_due": 0, "routes_resumed": 0, "parked_moved": 0}
    assert cli(env, "spool", "count").stdout.strip() == "0 spooled; 0 line(s) in quarantine"
    drained = cli(env, "spool", "drain")
    assert drained.returncode == 0 and drained.stdout.startswith("0 spooled event(s) enqueued")
    ticked = cli(env, "tick")
    assert ticked.returncode == 0 and ticked.stdout.strip() == "deliveries started: none"
    dead = 1 if which == "dead_system" else 0
    assert all(system.counts(p)["dead_stored"] == dead for p in ALL)
    unknown = cli(env, "circuit", "show", "nope")
    assert unknown.returncode == 1 and "'nope' is not configured" in unknown.stderr


def test_sandbox_print_config_points_every_provider_at_it_with_its_keys(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The printed TOML, used as TRACKING_CONFIG as it is, validates and names the running
    sandbox with the keys it accepts."""
    port = sandbox.url.rsplit(":", 1)[1]
    printed = cli(dict(os.environ), "sandbox", "--port", port, "--print-config")
    assert printed.returncode == 0, printed.stderr
    config = tmp_path / "tracking.toml"
    config.write_text(printed.stdout)
    settings = load_settings(environ={"TRACKING_CONFIG": str(config)})
    assert list(settings.providers) == list(ALL)
    for name, provider in settings.providers.items():
        assert provider.base_url == sandbox.url
        for key, value in sandbox.credentials(name).items():
            if hasattr(provider, key) and isinstance(value, str):
                assert getattr(provider, key) == value, (name, key)
