"""Provider adapters, one module each, and the registry that finds them.

Every class in a module of this package that subclasses ``Provider`` and declares a ``name`` is
registered, so adding a provider means adding its module: nothing here lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Mapping
from types import ModuleType

from .base import HttpRequest, HttpResponse, Provider, ProviderSchema


def _rank(cls: type[Provider]) -> tuple[int, str]:
    """Each provider declares its ``order`` (as its sandbox emulator does); then by name."""
    return cls.order, cls.name


def _declared_in(module: ModuleType) -> list[type[Provider]]:
    """Providers defined in ``module`` itself (not imported into it) that declare a name."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Provider)
        and value.__module__ == module.__name__
        and isinstance(vars(value).get("name"), str)
    ]


def find_providers(package: ModuleType) -> dict[str, type[Provider]]:
    """The provider classes declared in ``package``'s modules, by name, in registry order."""
    found: dict[str, type[Provider]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for cls in _declared_in(module):
            known = found.setdefault(cls.name, cls)
            if known is not cls:
                raise TypeError(f"two providers are named {cls.name!r}: {known} and {cls}")
    return {cls.name: cls for cls in sorted(found.values(), key=_rank)}


#: Every provider this package can deliver to, by settings name.
REGISTRY: Mapping[str, type[Provider]] = find_providers(sys.modules[__name__])

__all__ = ["REGISTRY", "HttpRequest", "HttpResponse", "Provider", "ProviderSchema"]
