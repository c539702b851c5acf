"""Fault tests break real processes: each gets its own redis-server to stop and restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tracking_worker.devtools import EmbeddedRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "private-redis", appendonly=True).start()
    yield server
    server.stop()
