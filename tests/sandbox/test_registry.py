"""Emulators and provider adapters are found in their modules, not listed: names, order,
credentials, routes and the worker settings pointing at the sandbox all come from each module."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracking_worker.events import Event
from tracking_worker.outcomes import Delivered
from tracking_worker.providers import REGISTRY, find_providers
from tracking_worker.sandbox import (
    DEFAULT_CREDENTIALS,
    PROVIDERS,
    SandboxServer,
    provider_settings,
    tganalytics,
)
from tracking_worker.sandbox.registry import emulator_classes, find_emulators
from tracking_worker.sandbox.routes import default_router

from .conftest import Deliver
from .payloads import GIOSG_PATH, GRAMPIXEL_PATH, GRASPIL_PATH, TGA_PATH, VIBETRACE_PATH

REPO = Path(__file__).resolve().parents[2]
ORDER = ("graspil", "tganalytics", "grampixel", "giosg", "vibetrace")
URL = "http://127.0.0.1:8765"

#: ``DEFAULT_CREDENTIALS`` as sandbox/credentials.py listed it before emulators declared theirs,
#: plus what the sandbox learned to check: Graspil's known targets, GramPixel's one path and
#: giosg's connected rooms (the demo's settings, so the demo delivers as before).
CREDENTIALS_BEFORE: dict[str, dict[str, Any]] = {
    "graspil": {"api_key": "sandbox-graspil-key", "targets": [12, 3, 14]},
    "tganalytics": {
        "token": "sandbox-tga-token",
        "app_name": "sandbox-app",
        "app_domain": "app.example.test",
    },
    "grampixel": {
        "api_key": "sandbox-grampixel-key",
        "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90",
        "path": "/v1/events/custom",
    },
    "giosg": {
        "token": "sandbox-giosg-token",
        "organization_id": "ac83d426-be80-4d75-8c62-49a77f98468e",
        "goals": ["4d0648b8-9074-11e6-963e-f45c89c72de3", "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f"],
        "unknown_visitors": ["unknown-visitor"],
        "rooms": ["2c9a1a9e-6d4b-4b7e-9a55-0d5c1f6a2b11"],
    },
    "vibetrace": {
        "api_key": "sandbox-vibetrace-key",
        "unknown_users": ["unknown@example.test"],
    },
}

#: What ``devtools.dev.demo_providers(URL)`` returned before ``provider_settings`` existed.
SETTINGS_BEFORE: dict[str, dict[str, Any]] = {
    "graspil": {
        "api_key": "sandbox-graspil-key",
        "base_url": URL,
        "targets": {"purchase": 12, "registration": 3, "first_deposit": 14},
    },
    "tganalytics": {
        "token": "sandbox-tga-token",
        "app_name": "sandbox-app",
        "app_domain": "app.example.test",
        "base_url": URL,
    },
    "grampixel": {
        "api_key": "sandbox-grampixel-key",
        "workspace_id": "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90",
        "base_url": URL,
        "path": "/v1/events/custom",
        "events": {"purchase": "Purchase", "first_deposit": "FTD", "registration": "REG"},
    },
    "giosg": {
        "token": "sandbox-giosg-token",
        "organization_id": "ac83d426-be80-4d75-8c62-49a77f98468e",
        "base_url": URL,
        "goals": {
            "purchase": "4d0648b8-9074-11e6-963e-f45c89c72de3",
            "registration": "9b2e4f10-5a6c-4d7e-8f90-1a2b3c4d5e6f",
        },
        "rooms": ["2c9a1a9e-6d4b-4b7e-9a55-0d5c1f6a2b11"],
    },
    "vibetrace": {"api_key": "sandbox-vibetrace-key", "base_url": URL},
}


def test_providers_and_default_credentials_keep_their_values_and_order() -> None:
    assert PROVIDERS == ORDER
    # json.dumps without sort_keys compares key order as well as values.
    assert json.dumps(DEFAULT_CREDENTIALS) == json.dumps(CREDENTIALS_BEFORE)


def test_provider_settings_is_what_demo_providers_returned() -> None:
    settings = provider_settings(URL)
    assert settings == SETTINGS_BEFORE
    assert json.dumps(settings) == json.dumps(SETTINGS_BEFORE)  # written to TOML in this order


def test_provider_settings_hands_out_copies() -> None:
    first = provider_settings(URL)
    first["giosg"]["rooms"].append("x")
    first["graspil"]["targets"]["x"] = 1
    assert provider_settings(URL) == SETTINGS_BEFORE
    assert json.dumps(DEFAULT_CREDENTIALS) == json.dumps(CREDENTIALS_BEFORE)


def test_provider_settings_merges_credentials_like_the_server_does() -> None:
    first, second = CREDENTIALS_BEFORE["giosg"]["goals"]
    settings = provider_settings(URL, {"graspil": {"api_key": "k2"}, "giosg": {"goals": [second]}})
    assert settings["graspil"]["api_key"] == "k2"
    assert settings["giosg"]["goals"] == {"purchase": second}
    assert settings["tganalytics"] == SETTINGS_BEFORE["tganalytics"]
    with pytest.raises(ValueError, match="unknown provider 'segment'"):
        provider_settings(URL, {"segment": {}})
    with pytest.raises(ValueError, match="unknown graspil setting"):
        provider_settings(URL, {"graspil": {"apikey": "typo"}})
    swapped = provider_settings(URL, {"giosg": {"goals": [second, first]}})
    assert swapped["giosg"]["goals"] == {"purchase": second, "registration": first}


def purchase() -> Event:
    """A purchase every provider can take."""
    return Event(
        event_id=str(uuid.uuid4()),
        name="purchase",
        occurred_at="2024-08-03T18:00:00.123+00:00",
        telegram_id=5842703839,
        email="buyer@example.test",
        visitor_id="customer-12345678",
        session_id=str(uuid.uuid4()),
        value=10.5,
        currency="USD",
        order_id=f"order-{uuid.uuid4()}",
    )


@pytest.mark.parametrize("rotated", [False, True], ids=["default keys", "rotated keys"])
@pytest.mark.parametrize("provider", ORDER)
def test_the_real_adapter_configured_by_provider_settings_delivers_to_the_sandbox(
    sandbox: SandboxServer, deliver: Deliver, provider: str, rotated: bool
) -> None:
    """Each emulator's settings load through the adapter's own schema and its request is taken."""
    if rotated:
        key = next(k for k in ("api_key", "token") if k in DEFAULT_CREDENTIALS[provider])
        sandbox.set_credentials(provider, **{key: "rotated-key"})
    outcome, answer = deliver(provider, purchase())
    assert outcome == Delivered(), answer
    assert len(sandbox.received(provider)) == 1


def test_emulators_are_found_in_their_own_modules_in_provider_order() -> None:
    classes = emulator_classes()
    assert tuple(cls.name for cls in classes) == ORDER
    assert [cls.__module__ for cls in classes] == [f"tracking_worker.sandbox.{n}" for n in ORDER]
    assert [cls.order for cls in classes] == sorted(cls.order for cls in classes)


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        (GRASPIL_PATH, "graspil"),
        (GRASPIL_PATH + "/", "graspil"),
        (TGA_PATH, "tganalytics"),
        (GRAMPIXEL_PATH, "grampixel"),
        ("/api" + GRAMPIXEL_PATH, "grampixel"),
        (GIOSG_PATH, "giosg"),
        (VIBETRACE_PATH, "vibetrace"),
        ("/v1/event", "vibetrace"),
    ],
)
def test_the_router_serves_each_emulators_declared_routes(path: str, provider: str) -> None:
    match = default_router().match(path)
    assert match is not None
    assert match.emulator.name == provider


def test_the_router_finds_every_emulator_by_name() -> None:
    router = default_router()
    for cls in emulator_classes():
        assert type(router.emulator(cls.name)) is cls


def test_tganalytics_is_spelled_as_in_the_providers_package() -> None:
    assert tganalytics.TgAnalytics.name == "tganalytics"
    assert not hasattr(tganalytics, "TGAnalytics")


def test_discovery_works_whichever_sandbox_module_is_imported_first() -> None:
    code = "import tracking_worker.sandbox.routes as r; print(r.default_router().emulator('giosg'))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Giosg" in result.stdout


EMULATOR = """
from tracking_worker.sandbox.base import Emulator, Reply


class {cls}(Emulator):
    name = "{name}"
    order = {order}
    routes = (r"^/{name}$",)
    default_credentials = {{"key": "{name}-key"}}

    def handle(self, request, config):
        return Reply(200, {{}})

    def rejection(self, field, message, index):
        return Reply(400, {{}})

    def provider_settings(self, base_url, credentials):
        return {{"base_url": base_url, "key": credentials["key"]}}
"""

PROVIDER = """
from tracking_worker.providers.base import Provider
from tracking_worker.outcomes import Delivered


class {cls}(Provider):
    name = "{name}"
    {order}

    def skip_reason(self, event):
        return None

    def build_request(self, events):
        raise NotImplementedError

    def classify(self, response):
        return Delivered()
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty importable package ``plugins_under_test``, forgotten after the test."""
    root = tmp_path / "plugins_under_test"
    root.mkdir()
    (root / "__init__.py").write_text("")
    # Importing it would end the test run: discovery must leave such modules alone.
    (root / "__main__.py").write_text("raise SystemExit('__main__ was imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [n for n in sys.modules if n.split(".")[0] == "plugins_under_test"]:
        del sys.modules[name]


def write(package: Path, module: str, source: str) -> None:
    (package / f"{module}.py").write_text(textwrap.dedent(source))


def test_a_new_emulator_module_is_found_without_being_listed(package: Path) -> None:
    write(package, "zeta", EMULATOR.format(cls="Zeta", name="zeta", order=5))
    write(package, "alpha", EMULATOR.format(cls="Alpha", name="alpha", order=5))
    write(package, "first", EMULATOR.format(cls="First", name="first", order=1))
    # Imported emulators and unnamed subclasses are not (re)registered.
    write(
        package,
        "helpers",
        "from tracking_worker.sandbox.graspil import Graspil\n"
        "from .zeta import Zeta\n\n\nclass LouderZeta(Zeta):\n    pass\n",
    )
    found = find_emulators(importlib.import_module("plugins_under_test"))
    assert [cls.name for cls in found] == ["first", "alpha", "zeta"]


def test_two_emulators_with_one_name_are_refused(package: Path) -> None:
    write(package, "one", EMULATOR.format(cls="One", name="same", order=1))
    write(package, "two", EMULATOR.format(cls="Two", name="same", order=2))
    with pytest.raises(TypeError, match="two sandbox emulators are named 'same'"):
        find_emulators(importlib.import_module("plugins_under_test"))


def test_the_provider_registry_is_discovered_in_its_former_order() -> None:
    assert tuple(REGISTRY) == ORDER
    for name, cls in REGISTRY.items():
        assert (cls.name, cls.__module__) == (name, f"tracking_worker.providers.{name}")


def test_a_new_provider_module_is_found_and_ordered(package: Path) -> None:
    write(package, "aaa", PROVIDER.format(cls="Aaa", name="aaa", order=""))
    write(package, "early", PROVIDER.format(cls="Early", name="early", order="order = 1"))
    write(package, "graspil", "from tracking_worker.providers.graspil import Graspil\n")
    found = find_providers(importlib.import_module("plugins_under_test"))
    assert list(found) == ["early", "aaa"]


def test_two_providers_with_one_name_are_refused(package: Path) -> None:
    write(package, "one", PROVIDER.format(cls="One", name="same", order=""))
    write(package, "two", PROVIDER.format(cls="Two", name="same", order=""))
    with pytest.raises(TypeError, match="two providers are named 'same'"):
        find_providers(importlib.import_module("plugins_under_test"))
