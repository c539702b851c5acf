"""Reading and replaying one provider's dead letters (the ``tw:{p}:dead`` stream)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, cast

import redis

from ..errors import ConfigurationError
from ..keys import Keys
from ..settings import Settings
from .connection import converted
from .lua_scripts import Scripts
from .queue import ProviderQueue


class DeadLetters:
    def __init__(self, settings: Settings, client: redis.Redis, provider: str) -> None:
        if provider not in settings.providers:
            configured = ", ".join(settings.providers) or "none"
            raise ConfigurationError(f"provider {provider!r} is not configured ({configured})")
        self.client = client
        self.scripts = Scripts()
        self.keys = Keys(provider, settings.redis.key_prefix)
        self.queue = ProviderQueue(client, self.scripts, self.keys)

    def list(self, limit: int) -> list[dict[str, Any]]:
        """Newest first; the event is decoded when it parses, kept raw otherwise."""
        entries: list[dict[str, Any]] = []
        for entry in self.queue.dead_letters(limit):
            with contextlib.suppress(ValueError):
                entry["event"] = json.loads(entry["event"])
            entries.append(entry)
        return entries

    def replay(self, limit: int, *, now: float | None = None) -> int:
        """Oldest first, up to ``limit``; malformed events stay dead (replaying cannot fix
        them). Each goes back with a fresh ``queued_at`` so max_age counts from the replay."""
        stamp = time.time() if now is None else now
        args: list[str] = []
        with converted("reading dead letters"):
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self.client.xrange(self.keys.dead, count=limit),
            )
        for entry_id, fields in entries:
            try:
                event = json.loads(fields[b"event"])
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            event["queued_at"] = stamp
            args += [entry_id.decode(), json.dumps(event, separators=(",", ":"))]
        if not args:
            return 0
        k = self.keys
        return int(self.scripts.run(self.client, "replay", [k.dead, k.pending, k.stats], args))
