"""Provider adapters, one module each, and the registry that names them."""

from __future__ import annotations

from collections.abc import Mapping

from .base import HttpRequest, HttpResponse, Provider, ProviderSchema
from .giosg import Giosg
from .grampixel import GramPixel
from .graspil import Graspil
from .tganalytics import TgAnalytics
from .vibetrace import VibeTrace

#: Every provider this package can deliver to, by settings name.
REGISTRY: Mapping[str, type[Provider]] = {
    cls.name: cls for cls in (Graspil, TgAnalytics, GramPixel, Giosg, VibeTrace)
}

__all__ = ["REGISTRY", "HttpRequest", "HttpResponse", "Provider", "ProviderSchema"]
