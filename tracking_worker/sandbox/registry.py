"""The provider emulators, found in this package's modules rather than listed anywhere.

Every class in a module of ``tracking_worker.sandbox`` that subclasses ``Emulator`` and declares
a ``name`` is one, so adding a provider means adding its module (apprise finds plugins this way).
Discovery imports every module of the package, so it runs once, when ``__init__`` has imported
the others: no module here may call it at import time.
"""

from __future__ import annotations

import copy
import importlib
from functools import cache
from types import ModuleType
from typing import Any

from ..plugins import discover
from .base import Emulator


def find_emulators(package: ModuleType) -> tuple[type[Emulator], ...]:
    """The emulator classes declared in ``package``'s modules, by ``order`` then name."""
    return tuple(discover(package, Emulator, "sandbox emulators"))


@cache
def emulator_classes() -> tuple[type[Emulator], ...]:
    """Every emulator of this package, in provider order."""
    return find_emulators(importlib.import_module(__name__.rpartition(".")[0]))


def provider_names() -> tuple[str, ...]:
    return tuple(cls.name for cls in emulator_classes())


def default_credentials() -> dict[str, dict[str, Any]]:
    """A fresh copy of every emulator's ``default_credentials``, in provider order."""
    return {cls.name: copy.deepcopy(dict(cls.default_credentials)) for cls in emulator_classes()}
