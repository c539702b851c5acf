"""A Sentinel group per module for the tests that only read and write through it, and one per
test for those that kill its master; a Redis Cluster (three masters and a broker) per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.topology import SentinelGroup
from tracking_worker.devtools import EmbeddedCluster


@pytest.fixture(scope="module")
def shared_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel-group")).start()
    yield group
    group.stop()


@pytest.fixture
def group(shared_group: SentinelGroup) -> SentinelGroup:
    """The module's group, its master emptied (rq's way: each test starts from nothing)."""
    client = shared_group.master().client()
    client.flushall()
    client.close()
    return shared_group


@pytest.fixture
def own_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A group of this test's own, to fail over."""
    group = SentinelGroup(tmp_path / "sentinel-group").start()
    yield group
    group.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(shared_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """The module's cluster and broker, emptied."""
    shared_cluster.flush()
    return shared_cluster
