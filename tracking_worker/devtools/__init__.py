"""Tools for running tracking_worker on one machine: the ``dev`` command, the demo configuration,
a process supervisor and a private redis-server. Tests and benchmarks use these public names;
nothing in the library imports this package."""

from __future__ import annotations

from .cluster import EmbeddedCluster
from .demo import demo_event, demo_providers, demo_settings, write_config
from .redis_server import EmbeddedRedis, free_port, redis_binary
from .sentinel import EmbeddedSentinel, Watch
from .supervisor import Child, beat_args, sandbox_args, wait_http, worker_args

__all__ = [
    "Child",
    "EmbeddedCluster",
    "EmbeddedRedis",
    "EmbeddedSentinel",
    "Watch",
    "beat_args",
    "demo_event",
    "demo_providers",
    "demo_settings",
    "free_port",
    "redis_binary",
    "sandbox_args",
    "wait_http",
    "worker_args",
    "write_config",
]
