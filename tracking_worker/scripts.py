"""The Lua scripts of ``lua/``, loaded once per Redis client and called by name.

Calls go through EVALSHA; after a Redis restart (empty script cache) a NOSCRIPT answer loads
the scripts again and the call is repeated, so a restart never loses a write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis

from .errors import QueueError

NAMES = (
    "enqueue",
    "claim",
    "settle",
    "reap",
    "renew",
    "replay",
    "circuit_allow",
    "circuit_record",
    "circuit_reset",
    "rate_take",
)

Arg = str | int | float | bytes


class Scripts:
    """Holds the source and SHA1 of every script; stateless towards Redis."""

    def __init__(self) -> None:
        folder = resources.files("tracking_worker") / "lua"
        self.source = {n: (folder / f"{n}.lua").read_text(encoding="utf-8") for n in NAMES}
        self.sha = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in self.source.items()}

    def load(self, client: redis.Redis) -> None:
        try:
            for source in self.source.values():
                client.script_load(source)
        except redis.RedisError as exc:
            raise QueueError(f"cannot load Lua scripts: {exc}") from None

    def run(self, client: redis.Redis, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run one script atomically; redis errors leave as QueueError."""
        try:
            try:
                return client.evalsha(self.sha[name], len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                self.load(client)
                return client.evalsha(self.sha[name], len(keys), *keys, *args)
        except redis.RedisError as exc:
            raise QueueError(f"{name} failed: {exc}") from None

    def queue_call(self, pipe: Any, name: str, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Add a call to a pipeline; the caller executes it (and retries on NOSCRIPT)."""
        pipe.evalsha(self.sha[name], len(keys), *keys, *args)
