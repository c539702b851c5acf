"""The layouts of the scripts that guard a provider: its circuit, rate limit, runs and the
worker nodes that size them, the due check, its suppression list, and the tick that claims
its interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...keys import Keys
from ..connection import as_text
from .layout import Arg, Layout, as_bytes


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
    #: A configuration pause: the setting named, and the provider's settings' fingerprint
    #: (a worker started with other settings closes the circuit).
    setting: str = ""
    fingerprint: str = ""
    #: A reject storm's batches: this many in a row with the same reject reason open it.
    storm_batches: int = 0


@dataclass(frozen=True)
class CircuitReset(Layout):
    SCRIPT = "circuit_reset"
    KEYS = ("circuit", "retry")
    #: "" resets whatever holds the circuit; a fingerprint resets only a configuration pause
    #: recorded with other settings (a worker started with changed settings).
    changed_from: str = ""


@dataclass(frozen=True)
class RouteResume(Layout):
    """Paused routes back to delivery: their parked events to the head of pending."""

    SCRIPT = "route_resume"
    KEYS = ("routes", "pending", "since", "forgetting", "stats")
    TAIL = ("routes",)
    parked_prefix: str
    #: (route, fingerprint) pairs: a route resumes when its stored fingerprint differs from
    #: the one given ("" resumes it whatever it holds).
    routes: tuple[tuple[str, str], ...] = ()

    def tail(self) -> list[Arg]:
        return [part for pair in self.routes for part in pair]

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        if len(tail) % 2:
            raise ValueError(f"{cls.SCRIPT}: routes come in pairs")
        text = [as_text(a) for a in tail]
        return {"routes": tuple(zip(text[::2], text[1::2], strict=True))}


@dataclass(frozen=True)
class Suppress(Layout):
    """Add people to, or remove them from, one provider's suppression list."""

    SCRIPT = "suppress"
    KEYS = ("suppressed",)
    TAIL = ("members",)
    #: "add" or "remove".
    action: str
    #: Hashed identifiers (``people.member``, binary).
    members: tuple[bytes, ...] = ()

    def tail(self) -> list[Arg]:
        return list(self.members)

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        return {"members": tuple(as_bytes(a) for a in tail)}


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
    """Take, hold or give back one of a provider's delivery runs."""

    SCRIPT = "run_slot"
    KEYS = ("runs", "nodes", "pending")
    action: str
    token: str
    #: The worker node the run is on (its Celery hostname; "" when none: a run of its own).
    node: str
    milliseconds: int
    cap: int
    per_run: int
    #: hold: the run's last round was quick.
    fast: bool = False


@dataclass(frozen=True)
class NodeBeat(Layout):
    """A worker node alive with so many processes, for one provider's queue it consumes."""

    SCRIPT = "node_beat"
    KEYS = ("nodes",)
    node: str
    processes: int
    milliseconds: int


@dataclass(frozen=True)
class Tick(Layout):
    """Claim this tick interval (two beats tick as one); its one key is ``keys.tick_key``,
    which is no provider's: built by the caller."""

    SCRIPT = "tick"
    KEYS = ("tick",)
    min_gap: float

    @classmethod
    def keys(cls, k: Keys, batch_id: str = "") -> list[str]:
        raise TypeError("the tick's key is keys.tick_key(prefix), built by the caller")
