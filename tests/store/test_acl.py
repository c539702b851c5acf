"""The Redis ACL the README gives tracking_worker's user: exactly enough. A user allowed only
``store.acl``'s commands runs the whole system (track, a worker and beat delivering, the CLI's
reads, a dead letter replayed, forget and suppress) and Redis's ACL log stays empty; one
command fewer is named by ``tracking-worker check``; and every command a Lua script calls is in
the list."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from tests.ops.support import cli
from tests.system import System
from tracking_worker.sandbox import SandboxServer
from tracking_worker.store import acl

LUA = Path(acl.__file__).parent / "lua"


def allow(admin: redis.Redis, *, without: tuple[str, ...] = ()) -> str:
    """A user allowed the README's commands but ``without``; returns a URL logging in as it."""
    commands = [c for c in (*acl.STORE, *acl.BROKER, *acl.OPTIONAL) if c not in without]
    admin.execute_command(
        "ACL", "SETUSER", "tracking", "reset", "on", ">s3cret", "~*", "&*", "-@all",
        *(f"+{c}" for c in commands),
    )  # fmt: skip
    port = admin.connection_pool.connection_kwargs["port"]
    return f"redis://tracking:s3cret@127.0.0.1:{port}/0"


def test_every_command_a_lua_script_calls_is_listed() -> None:
    called = {
        name.lower()
        for path in LUA.glob("*.lua")
        for name in re.findall(r"redis\.p?call\('([A-Z]+)'", path.read_text())
    }
    assert called and called <= set(acl.STORE), sorted(called - set(acl.STORE))


def test_the_whole_system_runs_as_a_user_allowed_only_the_listed_commands(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    sandbox.reject_matching("graspil", "user_id", 7)
    url = allow(redis_client)
    system = make_system(providers=["graspil", "grampixel"], redis_url=url)
    events = [
        {
            "name": "purchase",
            "telegram_id": n,
            "email": f"u{n}@example.test",
            "ad_session_id": f"gp_{n}",
        }
        for n in range(1, 21)
    ]
    ids = system.tracker.track_many(events)
    wait_for(lambda: system.settled("graspil", 20) and system.settled("grampixel", 20), 30)
    env = system.env
    for args in (
        ["check"],
        ["status", "--json"],
        ["dlq", "list", "--json"],
        ["trace", ids[0]],
        ["circuit", "show", "graspil"],
        ["queues"],
        ["suppress", "add", "--telegram-id", "9"],
        ["suppress", "list", "--json"],
        ["forget", "--email", "u3@example.test"],
        ["tick"],
    ):
        done = cli(env, *args)
        assert done.returncode == 0, (args, done.stderr)
    sandbox.reset()  # graspil takes user 7 now
    assert cli(env, "dlq", "replay").returncode == 0
    wait_for(lambda: system.counts("graspil")["delivered"] == 19, 30)
    log = [e for e in redis_client.acl_log(count=100) if not before_setinfo(redis_client, e)]
    assert log == [], [(e["object"], e["context"]) for e in log]


def before_setinfo(admin: redis.Redis, entry: dict[str, object]) -> bool:
    """redis-py names each connection with CLIENT SETINFO and ignores a refusal: before Redis
    7.2 there is no such subcommand to allow, so its refusal is logged there, harmlessly."""
    version = tuple(int(p) for p in str(admin.info("server")["redis_version"]).split(".")[:2])
    return entry["object"] == "client" and version < (7, 2)


@pytest.mark.parametrize("missing", ["xadd", "evalsha", "brpop", "multi", "subscribe"])
def test_check_names_a_command_the_user_lacks(
    redis_client: redis.Redis, tmp_path: Path, missing: str
) -> None:
    url = allow(redis_client, without=(missing,))
    config = tmp_path / "tracking.toml"
    config.write_text(f'[redis]\nurl = "{url}"\n')
    env = {"TRACKING_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    done = cli(env, "check")
    assert done.returncode == 1 and f"+{missing}" in done.stderr, done.stderr
    answer = json.loads(cli(env, "check", "--json").stdout)
    assert answer["ok"] is False and f"+{missing}" in answer["error"]
    assert "s3cret" not in done.stderr + answer["error"]


def test_config_get_is_optional_and_said_once(redis_client: redis.Redis, tmp_path: Path) -> None:
    url = allow(redis_client, without=("config|get",))
    config = tmp_path / "tracking.toml"
    config.write_text(f'[redis]\nurl = "{url}"\n')
    done = cli({"TRACKING_CONFIG": str(config), "PATH": "/usr/bin:/bin"}, "check")
    assert done.returncode == 0 and "config|get" in done.stderr


def test_the_readme_shows_the_list() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("### Redis ACL", 1)[1].split("```", 2)[1]
    assert set(re.findall(r"\+(\S+)", shown)) == {*acl.STORE, *acl.BROKER, *acl.OPTIONAL}
