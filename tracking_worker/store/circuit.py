"""The per-provider circuit breaker, kept in Redis so every worker sees the same state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from ..keys import Keys
from ..settings import DeliverySettings
from . import codec
from .connection import as_text, converted
from .lua_scripts import Scripts

#: The breaker's state as the circuit_*.lua scripts store it (``half``: a probe decides).
State = Literal["closed", "open", "half"]
#: What a round that sent requests tells the breaker (circuit_record.lua's ARGV[1]).
Kind = Literal["success", "failure", "throttle", "credentials", "configuration", "rejected"]
#: What a round says: a kind to record, or ``nothing`` for a round that sent no request (it
#: says nothing about the provider).
Heard = Kind | Literal["nothing"]

SUCCESS: Final = "success"
FAILURE: Final = "failure"
THROTTLE: Final = "throttle"
CREDENTIALS: Final = "credentials"
#: Our settings are wrong: open until a reset or a worker started with changed settings.
CONFIGURATION: Final = "configuration"
#: Every event of the round rejected for one reason: counted towards a reject storm.
REJECTED: Final = "rejected"
NOTHING: Final = "nothing"

_STATES: Mapping[str, State] = {state: state for state in get_args(State)}


def as_state(raw: Any) -> State:
    """A state read from Redis; none (a circuit never recorded) is closed, as the scripts
    read it."""
    return _STATES.get(as_text(raw), "closed")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait: float
    state: State


@dataclass(frozen=True)
class Change:
    """The circuit after a record; times are Redis time."""

    state: State
    open_until: float
    opened: bool
    now: float


class Circuit:
    """Closed → open after ``breaker_threshold`` failed rounds → half-open probe → closed."""

    def __init__(
        self, client: Any, scripts: Scripts, keys: Keys, delivery: DeliverySettings
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.delivery = delivery

    def allow(self) -> Verdict:
        """May this worker send now? While half-open, only the one caller that takes the
        probe slot may (for one request)."""
        probe_lease = self.delivery.lease_seconds
        call = codec.CircuitAllow(probe_lease=probe_lease)
        allowed, wait, state = self.scripts.call(self.client, call, self.keys)
        return Verdict(bool(int(allowed)), float(wait), as_state(state))

    def record(
        self,
        kind: Kind,
        *,
        wait: float = 0.0,
        reason: str = "",
        failures: int = 1,
        setting: str = "",
        fingerprint: str = "",
    ) -> Change:
        d = self.delivery
        call = codec.CircuitRecord(
            kind=kind,
            threshold=d.breaker_threshold,
            cooldown=d.breaker_cooldown,
            cooldown_cap=d.breaker_cooldown_cap,
            credentials_cooldown=d.credentials_cooldown,
            wait=wait,
            reason=reason[:500],
            failed_requests=failures,
            setting=setting,
            fingerprint=fingerprint,
            storm_batches=d.storm_batches,
        )
        state, open_until, opened, now = self.scripts.call(self.client, call, self.keys)
        return Change(as_state(state), float(open_until), bool(int(opened)), float(now))

    def release_probe(self) -> bool:
        """A probe that found nothing to send gives its slot back at once."""
        return bool(int(self.scripts.call(self.client, codec.CircuitRelease(), self.keys)))

    def reset(self, *, changed_from: str = "") -> int:
        """Close the circuit now (an operator fixed the key, or a provider's pause was wrong);
        the retry batches waiting for it are due at once. Returns how many, or -1 when
        nothing was closed: with ``changed_from`` (the provider's settings' fingerprint) only
        a configuration pause recorded with other settings is closed."""
        call = codec.CircuitReset(changed_from=changed_from)
        return int(self.scripts.call(self.client, call, self.keys))

    def state(self) -> dict[str, str]:
        with converted("reading the circuit"):
            raw = self.client.hgetall(self.keys.circuit)
        return {as_text(k): as_text(v) for k, v in raw.items()} or {"state": "closed"}
