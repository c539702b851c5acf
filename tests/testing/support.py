"""Running a user's pytest session with the plugin, whether or not it is installed here."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


def plugin_args() -> list[str]:
    """``-p tracking_worker.testing`` unless pytest loads it by its entry point already (once
    this checkout is installed): both would register it twice."""
    installed = any(ep.name == "tracking_worker" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "tracking_worker.testing"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    loop = ("-o", "asyncio_default_fixture_loop_scope=function")  # pytest-asyncio, quiet
    return pytester.runpytest("-p", "no:cacheprovider", *loop, *plugin_args(), *args)
