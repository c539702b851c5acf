"""Provider adapters, one module each, and the registry that finds them.

Every class in a module of this package that subclasses ``Provider`` and declares a ``name`` is
registered, so adding a provider means adding its module: nothing here lists them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import ModuleType

from ..plugins import discover
from .base import HttpRequest, HttpResponse, Provider, ProviderSchema, ProviderSettings


def find_providers(package: ModuleType) -> dict[str, type[Provider]]:
    """The provider classes declared in ``package``'s modules, by name, in registry order."""
    return {cls.name: cls for cls in discover(package, Provider, "providers")}


#: Every provider this package can deliver to, by settings name.
REGISTRY: Mapping[str, type[Provider]] = find_providers(sys.modules[__name__])

__all__ = [
    "REGISTRY",
    "HttpRequest",
    "HttpResponse",
    "Provider",
    "ProviderSchema",
    "ProviderSettings",
]
