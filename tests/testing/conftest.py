"""Each test starts with no configuration in use: no TRACKING_CONFIG, no default tracker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tracking_worker
from tracking_worker.settings import Settings


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TRACKING_CONFIG", raising=False)
    monkeypatch.delenv("TRACKING_REDIS_URL", raising=False)
    tracking_worker.use_settings(lambda: Settings())
    yield
    tracking_worker.use_settings(None)
