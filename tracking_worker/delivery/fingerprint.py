"""What a configuration pause remembers of the settings it happened under: a worker started
with other settings resumes what they paused (the operator fixed them), once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any


def settings_fingerprint(settings: Any, route: str | None = None) -> str:
    """A short hash of a provider's settings; for a ``route`` (an event name), of the settings
    that concern it: every plain setting, and its own entry of each per-name mapping (its
    Graspil target, its Giosg goal), so fixing one name's goal resumes that name only."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Mapping):
            value = value.get(route) if route is not None else dict(value)
        values[f.name] = value
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
