"""``tracking-worker render``: the request an event becomes for each provider, secrets masked,
or why a provider skips it; no Redis; the same rendering as the ``tracked`` fixture."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tracking_worker
from tests.ops.support import cli
from tracking_worker.cli import main
from tracking_worker.devtools import demo_settings, write_config
from tracking_worker.testing import capture

#: Keys a user configured: never in what render prints.
SECRETS = {"graspil": "api_key", "tganalytics": "token", "vibetrace": "api_key"}
SESSION = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
EVENT = [
    "purchase",
    "--telegram-id", "5",
    "--value", "9.99",
    "--currency", "usd",
    "--miniapp-session-id", SESSION,
    "--event-id", "order-1-purchase",
    "--occurred-at", "2025-04-01T10:33:19.534+00:00",
]  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """All five providers with keys of ours, on a Redis nothing listens on."""
    data = demo_settings("redis://127.0.0.1:9/0", "https://api.example.test")
    for provider, key in SECRETS.items():
        data["providers"][provider][key] = f"live-{provider}-secret-0042"
    config = tmp_path / "tracking.toml"
    write_config(config, data)
    monkeypatch.setenv("TRACKING_CONFIG", str(config))
    monkeypatch.delenv("TRACKING_REDIS_URL", raising=False)
    return {**os.environ}


def test_render_prints_each_request_masked_or_the_skip_reason(env: dict[str, str]) -> None:
    done = cli(env, "render", *EVENT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "graspil: POST https://api.example.test/v1/send-target\n  Api-Key: [redacted]\n" in out
    assert '"target_id": 12' in out and '"unit": "USD"' in out
    assert "tganalytics: POST https://api.example.test/events\n" in out
    assert "  TGA-Auth-Token: [redacted]\n" in out
    assert "giosg: skipped: no visitor_id (giosg visitor_identity)" in out
    assert "vibetrace: skipped: no email or user_id" in out
    for provider in SECRETS:
        assert f"live-{provider}-secret" not in out + done.stderr


def test_render_as_json_is_what_the_tracked_fixture_captures(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", *EVENT, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["event"]["event_id"] == "order-1-purchase"
    assert shown["skipped"].keys() == {"giosg", "vibetrace"}
    tracking_worker.use_settings(None)  # the default tracker from TRACKING_CONFIG
    try:
        with capture() as tracked:
            tracking_worker.track(
                "purchase",
                telegram_id=5,
                value=9.99,
                currency="usd",
                miniapp_session_id=SESSION,
                event_id="order-1-purchase",
                occurred_at="2025-04-01T10:33:19.534+00:00",
            )
    finally:
        tracking_worker.use_settings(None)
    captured = {name: r.as_dict() for name, r in tracked[0].requests.items()}
    assert shown["requests"] == captured and shown["skipped"] == tracked[0].skipped


def test_render_for_the_providers_asked_and_its_errors(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["render", "registration", "--telegram-id", "7", "--provider", "grampixel"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("grampixel: POST https://api.example.test/v1/events/custom\n")
    assert "graspil" not in out and '"event_name": "REG"' in out
    assert main(["render", "purchase", "--telegram-id", "0"]) == 1
    assert "telegram_id: Must be greater than or equal to 1." in capsys.readouterr().err
    empty = tmp_path / "empty.toml"
    empty.write_text("[delivery]\nmode = 'dry_run'\n", encoding="utf-8")
    monkeypatch.setenv("TRACKING_CONFIG", str(empty))
    assert main(["render", "purchase", "--telegram-id", "5"]) == 1
    assert "no provider is configured" in capsys.readouterr().err
