"""What the integration tests share: the examples' folder, loading an example module from its
file, and a running system's settings as the dict a framework setting holds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.system import System

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def sections(system: System) -> dict[str, Any]:
    """The TOML file the system's worker reads, as ``TRACKING_WORKER`` holds it in Django or
    Flask: the web app and the worker then share Redis, the providers and the spool."""
    return dict(tomllib.loads(system.config.read_text(encoding="utf-8")))


def load_example(relative: str, name: str) -> ModuleType:
    """An example's module from its file, under a name no other test module uses."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
