"""Shared fixtures: a real redis-server, the provider sandbox, real Celery worker and beat."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.system import System
from tracking_worker.devtools import EmbeddedRedis
from tracking_worker.sandbox import SandboxServer

#: pytester runs a user's test session inside ours (tests/testing/).
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on an empty database; flushed before and after each test (rq's way)."""
    if not redis_server.running:  # a fault test may have left it stopped
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    with contextlib.suppress(redis.RedisError):
        client.flushall()
    client.close()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis, redis_client: redis.Redis) -> str:
    return redis_server.url


def pytest_configure(config: pytest.Config) -> None:
    Path(config.rootpath / ".tracking").mkdir(exist_ok=True)
    # The plugin's fixtures (tracked, tracking_sandbox): loaded by its pytest11 entry point
    # once this checkout is installed, else here (both at once would register it twice).
    if not config.pluginmanager.has_plugin("tracking_worker"):
        config.pluginmanager.import_plugin("tracking_worker.testing")


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox with no faults, latency or records left by another test."""
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.reset()


@pytest.fixture
def make_system(
    redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> Iterator[Callable[..., System]]:
    """Start a real Celery worker (and beat) on a config pointing at the sandbox."""
    systems: list[System] = []

    def make(**kwargs: Any) -> System:
        url = kwargs.pop("redis_url", redis_url)
        system = System(tmp_path / f"system{len(systems)}", url, sandbox.url, **kwargs)
        systems.append(system)
        return system.start()

    yield make
    for system in systems:
        system.stop()
