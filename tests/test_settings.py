"""Settings: sources, substitution, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracking_worker.errors import ConfigurationError
from tracking_worker.providers import REGISTRY
from tracking_worker.settings import load_settings

GRASPIL = {"api_key": "key-123456", "targets": {"purchase": 12}}
WORKSPACE = "5f0c7a52-3c1e-4b8e-9d6a-2f4e8b1c7d90"
ORGANIZATION = "ac83d426-be80-4d75-8c62-49a77f98468e"
#: A minimal valid section for every provider (a new provider needs a row here).
VALID = {
    "graspil": GRASPIL,
    "tganalytics": {"token": "tok-1", "app_name": "my-app", "app_domain": "app.example.com"},
    "grampixel": {"api_key": "gp-key", "workspace_id": WORKSPACE},
    "giosg": {
        "token": "giosg-token",
        "organization_id": ORGANIZATION,
        "goals": {"purchase": "4d0648b8-9074-11e6-963e-f45c89c72de3"},
        "rooms": ["2c9a1a9e-6d4b-4b7e-9a55-0d5c1f6a2b11"],
    },
    "vibetrace": {"api_key": "vt-key"},
}
DSN = "https://public0key@o1.ingest.sentry.io/4505"


def provider(name: str, **changes: object) -> dict[str, object]:
    """Overrides enabling one provider, its valid section changed by ``changes``."""
    return {"providers": {name: {**VALID[name], **changes}}}


def refusal(overrides: dict[str, object], environ: dict[str, str] | None = None) -> str:
    """The ConfigurationError message load_settings gives for ``overrides``."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(overrides, environ=environ or {})
    return str(caught.value)


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
    assert settings.providers["graspil"].api_key == "from-env-key"
    env["TRACKING_REDIS_URL"] = "redis://env:2/0"
    assert load_settings(environ=env).redis.url == "redis://env:2/0"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"delivery": {"flush_intervall": 1}}, "delivery.flush_intervall"),
        ({"delivery": {"max_attempts": "many"}}, "delivery.max_attempts"),
        ({"delivery": {"flush_interval": 0}}, "delivery.flush_interval"),
        ({"delivery": {"not_yet_delays": [30, 0]}}, "delivery.not_yet_delays"),
        ({"delivery": {"not_yet_delays": [30, -1]}}, "delivery.not_yet_delays"),
        ({"delivery": {"not_yet_delays": [1] * 11}}, "delivery.not_yet_delays"),
        ({"delivery": {"not_yet_delays": 30}}, "delivery.not_yet_delays"),
        ({"delivery": {"not_yet_delays": ["soon"]}}, "delivery.not_yet_delays"),
        ({"delivery": {"heartbeat_seconds": 0}}, "delivery.heartbeat_seconds"),
        ({"delivery": {"max_runs": 0}}, "delivery.max_runs"),
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


def test_slots_and_trigger_marks_lapse_in_three_heartbeats_and_at_least_5_s() -> None:
    delivery = load_settings(environ={}).delivery
    assert (delivery.heartbeat_seconds, delivery.lapse_seconds) == (1.0, 5.0)
    assert delivery.trigger_ttl_ms == 5000  # never a lease (60 s)
    slow = load_settings({"delivery": {"heartbeat_seconds": 4}}, environ={}).delivery
    assert (slow.lapse_seconds, slow.trigger_ttl_ms) == (12.0, 12000)


def test_not_yet_delays_default_and_given() -> None:
    assert load_settings(environ={}).delivery.not_yet_delays == (30.0, 120.0, 300.0, 600.0)
    given = load_settings({"delivery": {"not_yet_delays": [1, 2.5]}}, environ={})
    assert given.delivery.not_yet_delays == (1.0, 2.5)
    assert (
        load_settings({"delivery": {"not_yet_delays": []}}, environ={}).delivery.not_yet_delays
        == ()
    )


def row(overrides: dict[str, object], named: str, says: str, case: str, **environ: str) -> object:
    """One refusal case: ``named`` and ``says`` must both appear in the message."""
    return pytest.param(overrides, environ, named, says, id=case)


def obs(**section: object) -> dict[str, object]:
    return {"observability": section}


#: Start-up refusals added with the stricter rules: each row loaded without error before.
REFUSED_AT_START_UP = [
    # 1. base_url: http(s) only, no query or fragment (request paths are appended to it)
    row(provider("graspil", base_url="ftp://x"), "graspil.base_url", "http", "ftp"),
    row(provider("graspil", base_url="http://x/?a=1"), "graspil.base_url", "query", "query"),
    row(provider("graspil", base_url="http://x/#f"), "graspil.base_url", "fragment", "fragment"),
    row(provider("vibetrace", base_url="http://x/?"), "vibetrace.base_url", "query", "bare-?"),
    # 2. credentials and names: the trailing newline of ${KEY}, a tab, padding, a control char
    row(provider("graspil", api_key="${K}"), "graspil.api_key", "whitespace", "env-nl", K="a\n"),
    row(provider("tganalytics", token="ab\tcd"), "tganalytics.token", "whitespace", "tab"),
    row(provider("grampixel", api_key=" gp-key"), "grampixel.api_key", "whitespace", "padded"),
    row(provider("giosg", token="tok\r\n"), "giosg.token", "control", "crlf"),
    row(provider("vibetrace", api_key="vt\x00key"), "vibetrace.api_key", "control", "nul"),
    row(provider("tganalytics", app_name="app\n"), "tganalytics.app_name", "whitespace", "app-nl"),
    row(provider("tganalytics", app_name="   "), "tganalytics.app_name", "empty", "app-blank"),
    row(provider("grampixel", path="/v1/custom\n"), "grampixel.path", "whitespace", "path-nl"),
    # 3. batch_size above the provider's max_batch: refused, not clamped
    row(provider("graspil", batch_size=101), "graspil.batch_size", "at most 100", "batch-101"),
    row(provider("grampixel", batch_size=2), "grampixel.batch_size", "at most 1", "batch-one"),
    # 4. integers are integers (a float, even 2.0, or a numeric string is a typo)
    row(provider("graspil", max_connections=2.0), "max_connections", "integer", "float-conns"),
    row(provider("graspil", batch_size=50.0), "graspil.batch_size", "integer", "float-batch"),
    row(provider("tganalytics", batch_size=20.0), "tganalytics.batch_size", "integer", "tga"),
    row(provider("graspil", max_connections="2"), "max_connections", "integer", "str-conns"),
    # 5. log level
    row(obs(log_level="LOUD"), "observability.log_level", "INFO", "level"),
    row(obs(log_level=""), "observability.log_level", "DEBUG", "empty-level"),
    # 6. Sentry DSN
    row(obs(sentry_dsn="nope"), "observability.sentry_dsn", "Sentry DSN", "dsn-word"),
    row(obs(sentry_dsn="https://sentry.io/1"), "sentry_dsn", "public key", "dsn-no-key"),
    row(obs(sentry_dsn="ftp://k@h/1"), "sentry_dsn", "Sentry DSN", "dsn-scheme"),
    row(obs(sentry_dsn="https://k@h/"), "sentry_dsn", "project id", "dsn-no-project"),
    row(obs(sentry_dsn="https://k@h/abc"), "sentry_dsn", "project id", "dsn-project-word"),
    row(obs(sentry_dsn="https://k@h:99999/1"), "sentry_dsn", "Sentry DSN", "dsn-port"),
    row(obs(sentry_dsn="${D}"), "sentry_dsn", "whitespace", "dsn-nl", D=DSN + "\n"),
    # 7. spool_dir
    row({"producer": {"spool_dir": ""}}, "producer.spool_dir", "empty", "empty-spool"),
    # 8. Redis URL: what redis-py would refuse later with a bare ValueError
    row({"redis": {"url": "localhost:6379"}}, "redis.url", "redis://", "no-scheme"),
    row({"redis": {"url": "http://h:6379/0"}}, "redis.url", "rediss://", "http-scheme"),
    row({}, "redis.url", "rediss://", "env-no-scheme", TRACKING_REDIS_URL="localhost:6379"),
    row({"redis": {"url": "unix:///run/redis.sock"}}, "redis.url", "redis://", "unix-no-celery"),
    row({"redis": {"url": "redis://h:abc/0"}}, "redis.url", "Port", "bad-port"),
    row({"redis": {"url": "redis://h/0?db=x"}}, "redis.url", "db", "bad-db"),
    row({"redis": {"url": "redis://h:6379/0\n"}}, "redis.url", "whitespace", "url-nl"),
    # 9. max_attempts: bounded (a typo of extra zeros would keep a dead provider's events cycling)
    row({"delivery": {"max_attempts": 1_024}}, "delivery.max_attempts", "1000", "attempts-1024"),
    row({"delivery": {"max_attempts": 10**6}}, "delivery.max_attempts", "1000", "attempts-1e6"),
]


@pytest.mark.parametrize(("overrides", "environ", "named", "says"), REFUSED_AT_START_UP)
def test_refused_at_start_up_naming_the_key(
    overrides: dict[str, object], environ: dict[str, str], named: str, says: str
) -> None:
    message = refusal(overrides, environ)
    assert named in message
    assert says in message


#: Refusals today's rules already gave; kept as rows so a looser schema cannot slip back.
ALREADY_REFUSED = [
    (provider("graspil", base_url="javascript:alert(1)"), "graspil.base_url"),
    (provider("graspil", api_key=""), "graspil.api_key"),
    (provider("tganalytics", app_domain="app.example.com\n"), "tganalytics.app_domain"),
    (provider("grampixel", workspace_id=f"{WORKSPACE}\n"), "grampixel.workspace_id"),
    (provider("giosg", organization_id=f"\t{ORGANIZATION}"), "giosg.organization_id"),
    (provider("tganalytics", batch_size=101), "tganalytics.batch_size"),
    ({"delivery": {"max_attempts": 3.5}}, "delivery.max_attempts"),
    ({"delivery": {"max_attempts": 3.0}}, "delivery.max_attempts"),
    (provider("graspil", targets={"purchase": 12.0}), "graspil.targets"),
    ({"delivery": {"max_attempts": True}}, "delivery.max_attempts"),
    ({"delivery": {"flush_interval": True}}, "delivery.flush_interval"),
    (provider("graspil", batch_size=True), "graspil.batch_size"),
    (provider("graspil", read_timeout=False), "graspil.read_timeout"),
    (provider("graspil", targets={"purchase": True}), "graspil.targets"),
    ({"redis": {"colour": 1}}, "redis.colour"),
    ({"producer": {"spool": "x"}}, "producer.spool"),
    ({"observability": {"sentry": DSN}}, "observability.sentry"),
    (provider("giosg", room=[]), "providers.giosg.room"),
]


@pytest.mark.parametrize(("overrides", "named"), ALREADY_REFUSED)
def test_still_refused_naming_the_key(overrides: dict[str, object], named: str) -> None:
    assert named in refusal(overrides)


@pytest.mark.parametrize(
    ("name", "key"), [(n, k) for n, cls in REGISTRY.items() for k in cls.secret_keys]
)
def test_every_secret_key_refuses_a_trailing_newline(name: str, key: str) -> None:
    """Driven by ``secret_keys``, so a new provider's credentials are covered without a row."""
    message = refusal(provider(name, **{key: "${SECRET}"}), {"SECRET": "abc\n"})
    assert f"providers.{name}.{key}:" in message


def test_clean_values_are_accepted_and_normalised() -> None:
    settings = load_settings(
        {
            "redis": {"url": "redis://cache.internal:6380/2"},
            "observability": {"log_level": "warning", "sentry_dsn": DSN},
            **provider("tganalytics", app_name="My Mini App", base_url="http://sandbox:8080/tga"),
        },
        environ={},
    )
    assert settings.observability.log_level == "WARNING"
    assert settings.observability.sentry_dsn == DSN
    assert settings.providers["tganalytics"].app_name == "My Mini App"
    tls = "rediss://:pw@h:6380/0"
    assert load_settings({"redis": {"url": tls}}, environ={}).redis.url == tls


def test_an_empty_sentry_dsn_means_no_sentry() -> None:
    """``sentry_dsn = "${SENTRY_DSN}"`` with ``SENTRY_DSN=`` turns Sentry off, as in sentry_sdk."""
    settings = load_settings({"observability": {"sentry_dsn": "${DSN}"}}, environ={"DSN": ""})
    assert settings.observability.sentry_dsn is None


def test_batch_size_at_the_maximum_is_kept() -> None:
    settings = load_settings(provider("graspil", batch_size=100), environ={})
    assert settings.providers["graspil"].batch_size == 100


def test_a_relative_spool_dir_in_the_file_is_next_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "tracking.toml").write_text('[producer]\nspool_dir = "${SPOOL}/../spool"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a worker started from another directory
    env = {"TRACKING_CONFIG": "../etc/tracking.toml", "SPOOL": "var"}
    assert load_settings(environ=env).producer.spool_dir == str(folder / "spool")


def test_other_spool_dirs_are_kept_as_given(tmp_path: Path) -> None:
    """An absolute path in the file, a relative one from configure(), and the default."""
    config = tmp_path / "tracking.toml"
    config.write_text(f'[producer]\nspool_dir = "{tmp_path / "abs"}"\n')
    env = {"TRACKING_CONFIG": str(config)}
    assert load_settings(environ=env).producer.spool_dir == str(tmp_path / "abs")
    overridden = load_settings({"producer": {"spool_dir": "rel/spool"}}, environ=env)
    assert overridden.producer.spool_dir == "rel/spool"
    assert load_settings(environ={}).producer.spool_dir == ".tracking/spool"


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
