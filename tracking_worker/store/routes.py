"""Paused routes: an event name whose per-name setting the provider says is wrong (a Graspil
target, a Giosg goal). Its events are set aside in a parked list (by settle.lua, with the
batch) while the provider's other names keep delivering; resuming puts them back, once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..keys import Keys
from . import codec
from .connection import as_text, converted
from .lua_scripts import Scripts


@dataclass(frozen=True)
class RoutePause:
    """Why a route is paused: the setting, the provider's own words, and the fingerprint of
    that route's settings when it was paused (a worker started with others resumes it)."""

    setting: str
    reason: str
    status: int | None
    fingerprint: str
    since: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: Any) -> RoutePause:
        try:
            data = json.loads(as_text(raw))
            status = data.get("status")
            return cls(
                str(data.get("setting", "")),
                str(data.get("reason", "")),
                int(status) if status is not None else None,
                str(data.get("fingerprint", "")),
                float(data.get("since", 0.0)),
            )
        except (ValueError, TypeError, AttributeError):
            return cls("", f"unreadable pause record: {as_text(raw)[:200]}", None, "", 0.0)


class Routes:
    """One provider's paused routes and their parked events."""

    def __init__(self, client: Any, scripts: Scripts, keys: Keys) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys

    def paused(self) -> dict[str, RoutePause]:
        with converted("reading the paused routes"):
            raw = self.client.hgetall(self.keys.routes)
        return {as_text(k): RoutePause.from_json(v) for k, v in raw.items()}

    def parked(self) -> dict[str, int]:
        """How many events each paused route holds."""
        names = list(self.paused())
        with converted("counting parked events"):
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.llen(self.keys.parked(name))
            counts = pipe.execute()
        return {name: int(n) for name, n in zip(names, counts, strict=True)}

    def resume(self, fingerprints: Mapping[str, str] | None = None) -> tuple[int, int]:
        """Resume every paused route (``None``), or those whose stored fingerprint differs
        from the one given. Returns (routes resumed, events moved back to pending)."""
        if fingerprints is None:
            fingerprints = {name: "" for name in self.paused()}
        if not fingerprints:
            return 0, 0
        call = codec.RouteResume(
            parked_prefix=self.keys.parked_prefix, routes=tuple(fingerprints.items())
        )
        resumed, moved = self.scripts.call(self.client, call, self.keys)
        return int(resumed), int(moved)
