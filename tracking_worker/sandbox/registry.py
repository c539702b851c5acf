"""The provider emulators, found in this package's modules rather than listed anywhere.

Every class in a module of ``tracking_worker.sandbox`` that subclasses ``Emulator`` and declares
a ``name`` is one, so adding a provider means adding its module (apprise finds plugins this way).
Discovery imports every module of the package, so it runs once, when ``__init__`` has imported
the others: no module here may call it at import time.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from .base import Emulator


def find_emulators(package: ModuleType) -> tuple[type[Emulator], ...]:
    """The emulator classes declared in ``package``'s modules, by ``order`` then name.

    Modules named ``_x`` are skipped: ``__main__`` would start a server when imported.
    """
    found: dict[str, type[Emulator]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for cls in _declared_in(module):
            known = found.setdefault(cls.name, cls)
            if known is not cls:
                raise TypeError(f"two sandbox emulators are named {cls.name!r}: {known} and {cls}")
    return tuple(sorted(found.values(), key=lambda cls: (cls.order, cls.name)))


def _declared_in(module: ModuleType) -> list[type[Emulator]]:
    """Emulators defined in ``module`` itself (not imported into it) that declare a name."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Emulator)
        and value.__module__ == module.__name__
        and isinstance(vars(value).get("name"), str)
    ]


@cache
def emulator_classes() -> tuple[type[Emulator], ...]:
    """Every emulator of this package, in provider order."""
    return find_emulators(importlib.import_module(__name__.rpartition(".")[0]))


def provider_names() -> tuple[str, ...]:
    return tuple(cls.name for cls in emulator_classes())


def default_credentials() -> dict[str, dict[str, Any]]:
    """A fresh copy of every emulator's ``default_credentials``, in provider order."""
    return {cls.name: copy.deepcopy(dict(cls.default_credentials)) for cls in emulator_classes()}
