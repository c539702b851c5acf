"""The pytest plugin in a user's own test run (pytester): its fixtures are there, capture,
deliver to the sandbox, take settings from the user's conftest, and work in async tests."""

from __future__ import annotations

import configparser
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.support import run

ROOT = Path(__file__).resolve().parents[2]


def test_a_users_tests_capture_events_and_a_wrong_expectation_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import tracking_worker

        def signup(telegram_id):
            tracking_worker.track("registration", telegram_id=telegram_id)

        def test_signup_reports_a_registration(tracked):
            signup(42)
            assert tracked.names == ["registration"]
            assert tracked[0].requests["graspil"].json[0]["target_id"] == 3
            assert tracked[0].requests["graspil"].headers["Api-Key"] == "[redacted]"

        def test_a_bad_event_still_raises(tracked):
            with pytest.raises(tracking_worker.ValidationError):
                signup(0)
            assert len(tracked) == 0

        def test_each_test_starts_empty(tracked):
            assert len(tracked) == 0

        def test_a_wrong_expectation_fails(tracked):
            signup(42)
            assert tracked.names == ["purchase"]
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.re_match_lines([r".*AssertionError: assert \['registration'\] == \['purchase'\]"])


def test_settings_from_the_users_conftest_and_delivery_to_the_sandbox(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def tracking_settings(tracking_sandbox):
            return tracking_sandbox.settings
        """
    )
    pytester.makepyfile(
        """
        import tracking_worker

        def test_a_purchase_reaches_graspil(tracked, tracking_sandbox):
            tracking_worker.track("purchase", telegram_id=7, value=10, currency="eur")
            assert tracked[0].requests["graspil"].url.startswith(tracking_sandbox.url)
            deliveries = tracked.deliver(tracking_sandbox)
            assert deliveries and all(d.ok for d in deliveries)
            assert [i["user_id"] for i in tracking_sandbox.received("graspil")] == [7]

        def test_a_fault_is_a_retry(tracked, tracking_sandbox):
            tracking_sandbox.add_fault("graspil", 500)
            tracking_worker.track("purchase", telegram_id=8, providers=["graspil"])
            [delivery] = tracked.deliver(tracking_sandbox)
            assert not delivery.ok and delivery.outcome.status == 500
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_an_async_test_with_atrack(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import tracking_worker

        @pytest.mark.asyncio
        async def test_the_bot_reports_a_registration(tracked):
            event_id = await tracking_worker.atrack("registration", telegram_id=42)
            assert [(c.name, c.event_id) for c in tracked] == [("registration", event_id)]
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_fixtures_are_listed_with_what_they_are_for(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--fixtures")
    result.stdout.fnmatch_lines(
        ["tracking_settings -- *", "tracked -- *", "*Every ``track()``*", "tracking_sandbox -- *"]
    )


def test_the_entry_point_names_the_plugin_module() -> None:
    """What makes pytest load it in every run once installed (tests/install_check.py checks
    the installed wheel's metadata)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = config["options.entry_points"]["pytest11"].strip().splitlines()
    assert declared == ["tracking_worker = tracking_worker.testing"]
    plugin = importlib.import_module("tracking_worker.testing")
    for name in ("tracked", "tracking_sandbox", "tracking_settings"):
        assert hasattr(plugin, name), name


def test_outside_pytest_it_imports_cheaply_and_captures_as_a_context_manager(
    tmp_path: Path,
) -> None:
    code = """
import json, sys
import tracking_worker
from tracking_worker import testing
with testing.capture() as tracked:
    tracking_worker.track("purchase", telegram_id=5)
watched = ("pytest", "requests", "celery", "tracking_worker.sandbox")
loaded = [m for m in watched if m in sys.modules]
print(json.dumps({"names": tracked.names, "fixtures": hasattr(testing, "tracked"),
                  "loaded": loaded, "requests": sorted(tracked[0].requests)}))
"""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "names": ["purchase"],
        "fixtures": False,
        # the dummy configuration is the sandbox's: loaded for it, no HTTP client
        "loaded": ["tracking_worker.sandbox"],
        "requests": ["grampixel", "graspil"],
    }
