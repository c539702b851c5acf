"""The pytest fixtures: ``tracked``, ``tracking_sandbox`` and ``tracking_settings``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..sandbox import SandboxServer
from .capture import Given, Tracked, capture
from .server import TrackingSandbox


@pytest.fixture
def tracking_settings() -> Given:
    """What ``tracked`` renders with: override it in a conftest.py to return a Settings object
    or sections (``{"providers": {...}}``); None, the default, means the settings in use."""
    return None


@pytest.fixture
def tracked(tracking_settings: Given) -> Iterator[Tracked]:
    """Every ``track()``, ``track_many()`` and ``atrack()`` of the test, captured with no
    Redis: ``tracked.names``, ``tracked[0].requests["graspil"].json``, ``tracked.clear()``."""
    with capture(tracking_settings) as captured:
        yield captured


@pytest.fixture(scope="session")
def _tracking_sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def tracking_sandbox(_tracking_sandbox_server: SandboxServer) -> Iterator[TrackingSandbox]:
    """The providers' emulated APIs on a local port (one per test session), emptied before
    and after each test: ``.url``, ``.settings``, ``.requests()``, ``.add_fault()``..."""
    _tracking_sandbox_server.reset()
    yield TrackingSandbox(_tracking_sandbox_server)
    _tracking_sandbox_server.reset()
