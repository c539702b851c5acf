"""The demo configuration: every provider pointed at the sandbox, demo events, a TOML writer.

What ``tracking-worker dev --demo``, the tests and the benchmarks run on; public, so none of
them reaches into the dev command's internals.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from ..sandbox import provider_settings

DEMO_NAMES = ("purchase", "registration", "app-init", "first_deposit", "subscription-started")


def demo_providers(sandbox_url: str) -> dict[str, dict[str, Any]]:
    """Every provider, pointed at the sandbox with the credentials it accepts (each sandbox
    emulator declares its provider's settings)."""
    return provider_settings(sandbox_url)


def write_config(path: Path, data: dict[str, dict[str, Any]]) -> None:
    """A TOML file the worker and beat read through TRACKING_CONFIG (see ``config_toml``)."""
    path.write_text(config_toml(data), encoding="utf-8")


def config_toml(data: dict[str, dict[str, Any]]) -> str:
    """``data``'s sections (``redis``, ``delivery``...) and ``providers`` as TOML, nested
    tables inline."""
    lines: list[str] = []
    for section, table in data.items():
        if section == "providers":
            for name, conf in table.items():
                lines += [f"[providers.{name}]", *_pairs(conf)]
        else:
            lines += [f"[{section}]", *_pairs(table)]
    return "\n".join(lines) + "\n"


def _pairs(table: dict[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()]


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def demo_event(rand: random.Random) -> dict[str, Any]:
    """A plausible conversion that every provider can take; about 1 in 50 is one the sandbox
    refuses (an unknown Telegram user), to show dead letters with the provider's reason."""
    name = rand.choice(DEMO_NAMES)
    telegram_id = 13 if rand.random() < 0.02 else rand.randint(10_000, 9_999_999)
    event: dict[str, Any] = {
        "name": name,
        "telegram_id": telegram_id,
        "email": f"user{telegram_id}@example.test",
        "visitor_id": f"visitor-{telegram_id}",
        "session_id": str(uuid.uuid4()),
        "properties": {"plan": rand.choice(["basic", "pro"])},
        "context": {"platform": "tdesktop", "locale": "en"},
    }
    if name in ("purchase", "first_deposit"):
        event.update(
            value=round(rand.uniform(1, 200), 2), currency="USD", order_id=str(uuid.uuid4())
        )
    return event


def demo_settings(redis_url: str, sandbox_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A whole configuration (as a TOML file holds it) on ``redis_url`` with every provider
    pointed at the sandbox; ``sections`` are merged over the demo's own."""
    data: dict[str, Any] = {
        "redis": {"url": redis_url},
        "delivery": {"flush_interval": 1.0},
        "providers": demo_providers(sandbox_url),
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def refuse_demo_user(sandbox_url: str) -> None:
    """Make Graspil refuse Telegram user 13 (as for a user not of that bot), so the demo shows
    a batch split to isolate one bad event and its dead letter with Graspil's message."""
    import requests

    requests.post(
        f"{sandbox_url}/_sandbox/reject",
        timeout=5,
        json={"provider": "graspil", "field": "user_id", "value": 13},
    ).raise_for_status()
