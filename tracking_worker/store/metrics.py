"""Request latency and status classes kept in Redis, so every worker process adds to one
histogram and the exporter reads it at scrape time: no per-process registry to merge, no
pushgateway, and a worker that restarts loses nothing.

Layout: ``tw:{p}:latency`` is a hash of non-cumulative bucket counters (``le:<bound>``, the
first bound a request fits under), ``count``, ``sum_us`` (integer microseconds: HINCRBY stays
exact where a float sum would drift) and ``status:<class>`` request counters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .connection import as_text

#: Upper bounds in seconds. Provider APIs answer in tens to hundreds of milliseconds; a read
#: timeout is seconds. Changing them orphans old fields (they are then ignored, not misread).
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: What ``status_class`` returns; a request that got no HTTP answer (timeout, refused
#: connection, TLS failure) is ``error``.
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")

#: What HINCRBY can hold: a value outside was not written by a script.
COUNTER_MIN, COUNTER_MAX = -(2**63), 2**63 - 1


def bucket_field(seconds: float) -> str:
    """The hash field of the first bucket ``seconds`` fits under (``le:+Inf`` beyond all)."""
    for bound in BUCKETS:
        if seconds <= bound:
            return f"le:{bound:g}"
    return "le:+Inf"


def status_class(status: int | None) -> str:
    """``2xx``..``5xx`` for an HTTP answer, ``error`` for none (or a status out of range)."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def histogram_fields(samples: Iterable[tuple[str, float]]) -> list[str | int]:
    """The increments ``samples`` (status class, seconds) make to a latency hash, as field and
    amount pairs, summed here first; ``settle.lua`` adds them with the batch they belong to."""
    counts: Counter[str] = Counter()
    for klass, seconds in samples:
        seconds = seconds if math.isfinite(seconds) and seconds > 0 else 0.0
        counts[bucket_field(seconds)] += 1
        counts["count"] += 1
        counts["sum_us"] += round(seconds * 1_000_000)
        counts[f"status:{klass if klass in STATUS_CLASSES else 'error'}"] += 1
    return [x for field_and_amount in counts.items() for x in field_and_amount]


def counter(value: Any) -> int | None:
    """A counter's value as Redis holds one (HINCRBY's signed 64 bits), None for anything else
    (text, a float, a number of hundreds of digits that no float can show)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if COUNTER_MIN <= n <= COUNTER_MAX else None


@dataclass(frozen=True)
class Latency:
    """A decoded ``tw:{p}:latency`` hash."""

    #: Cumulative counts per bound of BUCKETS (Prometheus' ``le`` buckets, +Inf excluded).
    cumulative: tuple[int, ...] = (0,) * len(BUCKETS)
    count: int = 0
    sum_seconds: float = 0.0
    requests: Mapping[str, int] = field(default_factory=dict)
    #: Fields that held no counter (see ``counter``): left out, counted here.
    unreadable: int = 0

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> Latency:
        """The histogram of a hash, each field that holds no counter left out (a hand-set
        ``count = "1.5"`` must not fail the scrape or ``status`` that reads it)."""
        read = {as_text(k): counter(v) for k, v in raw.items()}
        fields = {name: n for name, n in read.items() if n is not None}
        running, cumulative = 0, []
        for bound in BUCKETS:
            running += fields.get(f"le:{bound:g}", 0)
            cumulative.append(running)
        requests = {
            name[len("status:") :]: n for name, n in fields.items() if name.startswith("status:")
        }
        return cls(
            cumulative=tuple(cumulative),
            # Never below the buckets: a count field lost alone must not break the histogram.
            count=max(fields.get("count", 0), running + fields.get("le:+Inf", 0)),
            sum_seconds=fields.get("sum_us", 0) / 1_000_000,
            requests=requests,
            unreadable=len(read) - len(fields),
        )

    def quantile(self, q: float) -> float | None:
        """Rough upper bound of the ``q`` quantile (the bucket it falls in); for the CLI."""
        if not self.count:
            return None
        rank = q * self.count
        for bound, seen in zip(BUCKETS, self.cumulative, strict=True):
            if seen >= rank:
                return bound
        return math.inf
