"""The tracking-worker command against a real deployment: status, check, dead, tick, help."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.helpers import pause_until, wait_for
from tests.system import System
from tracking_worker.cli import main
from tracking_worker.sandbox import SandboxServer


def cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracking_worker.cli", *args],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_check_and_dead_letter_replay(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.reject_matching("graspil", "user_id", 3)
    system = make_system(providers=["graspil", "grampixel"])
    system.tracker.track_many(
        [
            {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
            for n in range(1, 6)
        ]
    )
    wait_for(
        lambda: system.settled("graspil", 5) and system.settled("grampixel", 5),
        30,
        message=system.log(),
    )

    checked = cli(system, "check")
    assert checked.returncode == 0 and "providers: graspil, grampixel" in checked.stdout

    status = cli(system, "status")
    assert status.returncode == 0
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()}
    assert rows["graspil"][4:6] == ["4", "1"]  # delivered, dead
    assert rows["grampixel"][4:6] == ["5", "0"]
    as_json = json.loads(cli(system, "status", "--json").stdout)
    assert as_json["graspil"]["dead"] == 1 and as_json["graspil"]["circuit"] == "closed"

    listed = cli(system, "dead", "list", "graspil")
    [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["event"]["telegram_id"] == 3 and "not found" in entry["reason"]
    assert "sandbox-graspil-key" not in listed.stdout

    sandbox.reset()  # the cause is fixed: Graspil knows user 3 now
    would = json.loads(cli(system, "dlq", "replay", "graspil", "--dry-run", "--json").stdout)
    counts = {"matched": 1, "moved": 1, "malformed": 0, "stopped": False}
    assert would == {"dry_run": True, "stopped": False, "providers": {"graspil": counts}}
    replayed = cli(system, "dead", "replay", "graspil")
    assert "1 dead letter(s) of graspil moved back to pending" in replayed.stdout
    wait_for(lambda: system.counts("graspil")["delivered"] == 5, 30, message=system.log())
    assert [i["user_id"] for i in sandbox.received("graspil")] == [3]
    assert cli(system, "dead", "list", "graspil").stdout == ""


def test_unknown_provider_and_bad_config_fail_with_a_clear_message(
    make_system: Callable[..., System],
) -> None:
    system = make_system(providers=["graspil"], beat=False)
    unknown = cli(system, "dead", "list", "vibetrace")
    assert unknown.returncode == 1 and "'vibetrace' is not configured" in unknown.stderr
    system.config.write_text(system.config.read_text() + "\n[delivery2]\nx = 1\n")
    broken = cli(system, "check")
    assert broken.returncode == 1 and "delivery2" in broken.stderr


def test_tick_starts_a_delivery_without_beat(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    system = make_system(providers=["graspil"], beat=False)
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 8)])
    assert system.counts("graspil")["pending"] == 7  # a partial batch: nothing starts it
    pause_until(time.monotonic() + 0.6)  # until it has waited flush_interval (0.5 s): due
    ticked = cli(system, "tick")
    assert ticked.returncode == 0 and "deliveries started: graspil" in ticked.stdout
    wait_for(lambda: system.counts("graspil")["delivered"] == 7, 30, message=system.log())


def test_circuit_reset_resumes_a_paused_provider_at_once(
    make_system: Callable[..., System], sandbox: SandboxServer
) -> None:
    sandbox.set_credentials("graspil", api_key="rotated-key")
    system = make_system(providers=["graspil"])
    system.tracker.track_many([{"name": "purchase", "telegram_id": n} for n in range(1, 4)])
    wait_for(lambda: system.counts("graspil")["in_retry"] == 3, 30, message=system.log())
    shown = json.loads(cli(system, "circuit", "show", "graspil", "--json").stdout)
    assert shown["state"] == "open" and float(shown["open_until"]) > time.time() + 500
    # The table: local times, and how long the pause has left (credentials_cooldown).
    table = dict(
        line.split(None, 1)
        for line in cli(system, "circuit", "show", "graspil").stdout.splitlines()
    )
    assert (table["state"].strip(), table["kind"].strip()) == ("open", "credentials")
    until = datetime.fromtimestamp(float(shown["open_until"])).strftime("%Y-%m-%d %H:%M:%S")
    assert table["open_until"].startswith(until + " (in ")
    sandbox.reset()  # the key is valid again
    reset = cli(system, "circuit", "reset", "graspil")
    assert "circuit closed; 1 retry batch(es) due now" in reset.stdout
    wait_for(lambda: system.counts("graspil")["delivered"] == 3, 15, message=system.log())


COMMANDS = {
    "check": [],
    "circuit": ["show", "reset"],
    "dead": ["list", "show", "replay", "purge"],
    "dev": [],
    "dlq": ["list", "show", "replay", "purge"],
    "forget": [],
    "import": [],
    "metrics": [],
    "queues": [],
    "render": [],
    "sandbox": [],
    "send": [],
    "suppress": ["add", "remove", "list"],
    "spool": ["count", "drain"],
    "status": [],
    "tick": [],
    "trace": [],
}


def test_help_lists_every_command_on_one_line_and_each_has_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing] == sorted(COMMANDS)
    assert all(len(line.split()) > 2 for line in listing)  # a name and a sentence, one line
    for command, subcommands in COMMANDS.items():
        for path in ([command], *([command, sub] for sub in subcommands)):
            assert main([*path, "--help"]) == 0, path
            shown = capsys.readouterr().out
            assert shown.startswith(f"Usage: tracking-worker {' '.join(path)}"), shown
    assert main([]) == 2  # no command: the usage, as a usage error
