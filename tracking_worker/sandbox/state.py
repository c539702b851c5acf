"""Everything the sandbox remembers, behind one lock: records, accepted items, faults, rules."""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from .credentials import Credentials, apply_overrides
from .faults import Fault, Rule

Record = dict[str, Any]


class SandboxState:
    """Thread-safe store; readers get deep copies so nobody shares a dict across threads.

    ``max_records`` bounds memory for a long-running demo: the oldest records and accepted
    items are dropped first.
    """

    def __init__(self, credentials: Credentials, max_records: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._initial = copy.deepcopy(credentials)
        self._max = max_records
        self._credentials = copy.deepcopy(credentials)
        self._records: deque[Record] = deque(maxlen=max_records)
        self._accepted: dict[str, deque[Any]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._latency: dict[str, float] = {}
        self._rules: dict[str, list[Rule]] = {}
        self._seen: set[str] = set()
        #: Bumped by reset(): a request that arrived before it is answered but not recorded,
        #: so a test never sees a late request of the test before it.
        self.generation = 0

    def reset(self) -> None:
        """Forget records, faults, latency, rules and seen dedupe keys; restore credentials."""
        with self._lock:
            self.generation += 1
            self._credentials = copy.deepcopy(self._initial)
            self._records.clear()
            for mapping in (self._accepted, self._faults, self._latency, self._rules):
                mapping.clear()
            self._seen.clear()

    def credentials(self, provider: str | None = None) -> dict[str, Any]:
        with self._lock:
            chosen = self._credentials if provider is None else self._credentials[provider]
            return copy.deepcopy(chosen)

    def set_credentials(self, provider: str, overrides: Mapping[str, Any]) -> None:
        with self._lock:
            apply_overrides(self._credentials, provider, overrides)

    def add_fault(self, provider: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(provider, []).append(fault)

    def clear_faults(self, provider: str | None = None) -> None:
        with self._lock:
            if provider is None:
                self._faults.clear()
            else:
                self._faults.pop(provider, None)

    def take_fault(self, provider: str) -> Fault | None:
        """The first active fault for ``provider`` (a copy), using up one of its answers."""
        now = time.monotonic()
        with self._lock:
            queue = [f for f in self._faults.get(provider, []) if f.active(now)]
            self._faults[provider] = queue
            if not queue:
                return None
            queue[0].consume()
            return copy.deepcopy(queue[0])

    def set_latency(self, provider: str, seconds: float) -> None:
        with self._lock:
            self._latency[provider] = seconds

    def latency(self, provider: str) -> float:
        with self._lock:
            return self._latency.get(provider, 0.0)

    def add_rule(self, provider: str, rule: Rule) -> None:
        with self._lock:
            self._rules.setdefault(provider, []).append(rule)

    def rules(self, provider: str) -> tuple[Rule, ...]:
        with self._lock:
            return tuple(self._rules.get(provider, ()))

    def conclude(self, record: Record, items: list[Any], dedupe_key: str | None) -> Record:
        """Store ``record``; accept ``items`` unless ``dedupe_key`` was seen (then mark it).
        A record from before the last reset is returned unstored."""
        with self._lock:
            if record.get("generation", self.generation) != self.generation:
                return record
            if dedupe_key is not None:
                key = f"{record['provider']}:{dedupe_key}"
                if key in self._seen:
                    record["outcome"] = "deduplicated"
                    items = []
                self._seen.add(key)
            if items:
                accepted = self._accepted.setdefault(record["provider"], deque(maxlen=self._max))
                accepted.extend(items)
            self._records.append(record)
            return record

    def requests(self, provider: str | None = None) -> list[Record]:
        with self._lock:
            chosen = [r for r in self._records if provider is None or r["provider"] == provider]
            return copy.deepcopy(chosen)

    def received(self, provider: str) -> list[Any]:
        with self._lock:
            return copy.deepcopy(list(self._accepted.get(provider, ())))
