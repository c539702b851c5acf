"""Finding plugins by the modules that declare them (apprise's way): every class in a module of
a package that subclasses ``base`` and declares a ``name`` is one, so adding a provider (or its
sandbox emulator) means adding its module, and no list names them."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def discover(package: ModuleType, base: type, what: str) -> list[Any]:
    """The ``base`` subclasses declared in ``package``'s modules, by ``order`` then ``name``.
    Modules named ``_x`` are skipped (``__main__`` would start a server when imported); two
    classes with one name are a TypeError naming ``what`` they are."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for cls in _declared_in(module, base):
            known = found.setdefault(cls.name, cls)
            if known is not cls:
                raise TypeError(f"two {what} are named {cls.name!r}: {known} and {cls}")
    return sorted(found.values(), key=lambda cls: (cls.order, cls.name))


def _declared_in(module: ModuleType, base: type) -> list[Any]:
    """Classes defined in ``module`` itself (not imported into it) that declare a name."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value.__module__ == module.__name__
        and isinstance(vars(value).get("name"), str)
    ]
