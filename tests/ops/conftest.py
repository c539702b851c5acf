"""Fixtures of the operating tests: the two systems of ``support``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.ops.support import with_dead_letters
from tests.system import System
from tracking_worker.sandbox import SandboxServer


@pytest.fixture
def empty_system(make_system: Callable[..., System]) -> System:
    """Every provider configured, a worker and beat running, nothing tracked yet."""
    return make_system()


@pytest.fixture
def dead_system(make_system: Callable[..., System], sandbox: SandboxServer) -> System:
    return with_dead_letters(make_system, sandbox)
