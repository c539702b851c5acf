"""The per-provider circuit breaker, kept in Redis so every worker sees the same state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from ..settings import DeliverySettings
from .connection import as_text, converted
from .lua_scripts import Scripts

SUCCESS, FAILURE, THROTTLE, CREDENTIALS = "success", "failure", "throttle", "credentials"
#: A round that sent no request: nothing to record (it says nothing about the provider).
NOTHING = "nothing"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait: float
    state: str


@dataclass(frozen=True)
class Change:
    state: str
    open_until: float
    opened: bool


class Circuit:
    """Closed → open after ``breaker_threshold`` failed rounds → half-open probe → closed."""

    def __init__(
        self, client: Any, scripts: Scripts, keys: Keys, delivery: DeliverySettings
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.delivery = delivery

    def allow(self, *, now: float) -> Verdict:
        probe_lease = self.delivery.lease_seconds
        allowed, wait, state = self.scripts.run(
            self.client, "circuit_allow", [self.keys.circuit], [now, probe_lease]
        )
        return Verdict(bool(int(allowed)), float(wait), as_text(state))

    def record(
        self, kind: str, *, now: float, wait: float = 0.0, reason: str = "", failures: int = 1
    ) -> Change:
        d = self.delivery
        state, open_until, opened = self.scripts.run(
            self.client,
            "circuit_record",
            [self.keys.circuit],
            [
                kind,
                now,
                d.breaker_threshold,
                d.breaker_cooldown,
                d.breaker_cooldown_cap,
                d.credentials_cooldown,
                wait,
                reason[:500],
                failures,
            ],
        )
        return Change(as_text(state), float(open_until), bool(int(opened)))

    def open_until(self) -> float:
        """When the current pause ends (0 when closed); read-only, takes no probe slot."""
        with converted("reading the circuit"):
            raw = self.client.hget(self.keys.circuit, "open_until")
        return float(raw) if raw else 0.0

    def reset(self, *, now: float) -> int:
        """Close the circuit now (an operator fixed the key, or a provider's pause was wrong);
        the retry batches waiting for it are due at once. Returns how many."""
        keys = [self.keys.circuit, self.keys.retry]
        return int(self.scripts.run(self.client, "circuit_reset", keys, [now]))

    def state(self) -> dict[str, str]:
        with converted("reading the circuit"):
            raw = self.client.hgetall(self.keys.circuit)
        return {as_text(k): as_text(v) for k, v in raw.items()} or {"state": "closed"}
