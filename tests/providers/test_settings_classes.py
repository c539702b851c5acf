"""Every provider's settings: one frozen dataclass per provider, its schema built from it."""

from __future__ import annotations

import dataclasses

import pytest

from tests.test_settings import VALID
from tracking_worker.providers import REGISTRY
from tracking_worker.providers.base import ProviderSettings


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_schema_loads_the_providers_own_frozen_settings(name: str) -> None:
    cls = REGISTRY[name]
    loaded = cls.schema().load(VALID[name])
    assert type(loaded) is cls.schema.section and isinstance(loaded, ProviderSettings)
    provider = cls(loaded)
    assert provider.settings is loaded
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.base_url = "https://elsewhere.example"  # type: ignore[misc]
    assert all(getattr(loaded, key) for key in cls.secret_keys)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_provider_refuses_another_providers_settings(name: str) -> None:
    other = next(n for n in sorted(REGISTRY) if n != name)
    wrong = REGISTRY[other].schema().load(VALID[other])
    with pytest.raises(TypeError, match=name):
        REGISTRY[name](wrong)
