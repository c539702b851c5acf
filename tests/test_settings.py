"""Settings: sources, substitution, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracking_worker.errors import ConfigurationError
from tracking_worker.settings import load_settings

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}


def test_defaults_without_any_source() -> None:
    settings = load_settings(environ={})
    assert settings.redis.url == "redis://localhost:6379/0"
    assert settings.delivery.flush_interval == 2.0
    assert settings.delivery.max_attempts == 10
    assert dict(settings.providers) == {}


def test_toml_env_and_configure_in_order(tmp_path: Path) -> None:
    config = tmp_path / "tracking.toml"
    config.write_text(
        '[redis]\nurl = "redis://file:1/0"\n[delivery]\nflush_interval = 5.0\n'
        '[providers.graspil]\napi_key = "${GRASPIL_API_KEY}"\ntargets = { purchase = 12 }\n'
    )
    env = {"TRACKING_CONFIG": str(config), "GRASPIL_API_KEY": "from-env-key"}
    settings = load_settings({"delivery": {"max_attempts": 3}}, environ=env)
    assert settings.redis.url == "redis://file:1/0"
    assert settings.delivery.flush_interval == 5.0
    assert settings.delivery.max_attempts == 3
    assert settings.providers["graspil"]["api_key"] == "from-env-key"
    env["TRACKING_REDIS_URL"] = "redis://env:2/0"
    assert load_settings(environ=env).redis.url == "redis://env:2/0"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"delivery": {"flush_intervall": 1}}, "delivery.flush_intervall"),
        ({"delivery": {"max_attempts": "many"}}, "delivery.max_attempts"),
        ({"delivery": {"flush_interval": 0}}, "delivery.flush_interval"),
        ({"providers": {"graspil": {"targets": {}}}}, "providers.graspil.api_key"),
        ({"providers": {"graspil": {**GRASPIL, "colour": 1}}}, "providers.graspil.colour"),
        (
            {"providers": {"graspil": {**GRASPIL, "targets": {"a": "x"}}}},
            "providers.graspil.targets",
        ),
        ({"providers": {"nosuch": {}}}, "providers.nosuch"),
        ({"queue": {}}, "queue"),
        (
            {"providers": {"graspil": {**GRASPIL, "api_key": "${MISSING_VAR}"}}},
            "providers.graspil.api_key",
        ),
    ],
)
def test_errors_name_the_key(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(overrides, environ={})
    assert named in str(caught.value)


def test_a_lease_shorter_than_one_request_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.graspil\.read_timeout"):
        load_settings(
            {
                "delivery": {"lease_seconds": 5},
                "providers": {"graspil": {**GRASPIL, "read_timeout": 5}},
            },
            environ={},
        )


def test_unreadable_and_invalid_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings(environ={"TRACKING_CONFIG": str(tmp_path / "none.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("[redis\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(environ={"TRACKING_CONFIG": str(bad)})


def test_repr_never_shows_secrets() -> None:
    settings = load_settings({"providers": {"graspil": GRASPIL}}, environ={})
    assert "key-123456" not in repr(settings)
    assert "key-123456" in settings.secrets()


def test_example_config_is_valid() -> None:
    example = Path(__file__).parents[1] / "config" / "tracking.example.toml"
    env = {"TRACKING_CONFIG": str(example)}
    env.update({name: "secret-value" for name in _variables(example.read_text())})
    settings = load_settings(environ=env)
    assert set(settings.providers) == {"graspil", "tganalytics", "grampixel", "giosg", "vibetrace"}


def _variables(text: str) -> set[str]:
    import re

    return set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
