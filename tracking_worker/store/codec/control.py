"""The layouts of the scripts that guard a provider: its circuit, rate limit, run slots and
the due check."""

from __future__ import annotations

from dataclasses import dataclass

from ...keys import Keys
from .layout import Layout


@dataclass(frozen=True)
class CircuitAllow(Layout):
    """May a worker send to the provider now?"""

    SCRIPT = "circuit_allow"
    KEYS = ("circuit",)
    #: Seconds a half-open probe may take.
    probe_lease: float


@dataclass(frozen=True)
class CircuitRecord(Layout):
    """What one delivery round says about the provider's health."""

    SCRIPT = "circuit_record"
    KEYS = ("circuit",)
    kind: str
    threshold: int
    cooldown: float
    cooldown_cap: float
    credentials_cooldown: float
    #: The wait the provider asked for (Retry-After), 0 for none.
    wait: float
    reason: str
    failed_requests: int


@dataclass(frozen=True)
class CircuitReset(Layout):
    SCRIPT = "circuit_reset"
    KEYS = ("circuit", "retry")


@dataclass(frozen=True)
class CircuitRelease(Layout):
    SCRIPT = "circuit_release"
    KEYS = ("circuit",)


@dataclass(frozen=True)
class RateTake(Layout):
    """Take one request slot from the provider's shared token bucket."""

    SCRIPT = "rate_take"
    KEYS = ("rate",)
    rate: float
    burst: float


@dataclass(frozen=True)
class Due(Layout):
    """Would a flushing delivery find work now?"""

    SCRIPT = "due"
    KEYS = ("pending", "retry", "circuit", "since")
    claim_size: int
    flush_interval: float


@dataclass(frozen=True)
class RunSlot(Layout):
    """Take, hold or give back a run slot; its one key is ``Keys.run_slot(index)``, built by
    the slot's owner (``keys`` does not know the index)."""

    SCRIPT = "run_slot"
    KEYS = ("run_slot",)
    action: str
    token: str
    milliseconds: int

    @classmethod
    def keys(cls, k: Keys, batch_id: str = "") -> list[str]:
        raise TypeError("a run slot's key is Keys.run_slot(index), built by its owner")
