"""One read of every provider's state, shared by ``tracking-worker status``, the ``dev`` table
and the Prometheus exporter, so all three always agree on what a number means.

A read is one pipeline round trip whatever the backlog (on a Redis Cluster, one per node, sent
together): sizes come from LLEN/XLEN and the counters of ``tw:{p}:stats``, never from walking
a list. Ages use Redis TIME, like the scripts that write the timestamps: each provider's from
the node of its slot (a cluster's nodes each have their own clock), read by a script in that
slot since TIME itself names no key to route by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..keys import Keys, tick_key
from ..settings import Settings
from .circuit import as_state
from .cluster import TIME_AT, redis_time
from .connection import as_text, converted
from .metrics import Latency, counter
from .routes import RoutePause

#: Events in leased batches: a handful of leases at most (one run per provider at a time,
#: plus leases waiting to be reaped), so this read stays O(1) in the backlog. Returns the
#: count, how many batches' ``count`` was no number (left out), and the node's TIME.
_IN_FLIGHT = (
    "local n, bad = 0, 0 "
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "local raw = redis.call('HGET', ARGV[1] .. id, 'count') "
    "local c = tonumber(raw or 0) "
    "if c then n = n + c else bad = bad + 1 end end "
    "local t = redis.call('TIME') "
    "return {n, bad, t[1], t[2]}"
)

if TYPE_CHECKING:
    from .connection import Client
#: The latest time a stored timestamp may hold (9999-12-31): beyond, no clock can show it.
_LAST_TIME = 253_402_300_799.0

#: The circuit as shown to an operator (``circuit_state``); ``half-open`` is the stored ``half``.
Shown = Literal["closed", "half-open", "open"]

#: Circuit states as the gauge encodes them.
CIRCUIT_CODES: Mapping[Shown, int] = {"closed": 0, "half-open": 1, "open": 2}

#: Per-provider fields, in the order ``--json`` writes them: the exporter's metric names.
GAUGES = ("pending", "in_flight", "retry_scheduled", "dead", "oldest_pending_seconds")
OUTCOMES = (
    "delivered",
    "retried",
    "rejected",
    "not_yet",
    "expired",
    "skipped",
    "dropped",
    "lost",
    "dry_run",
    "suppressed",
    "forgotten",
)


@dataclass(frozen=True)
class ProviderStatus:
    pending: int = 0
    in_flight: int = 0
    retry_scheduled: int = 0
    #: Dead letters stored now (the stream's length: replay and purge lower it).
    dead: int = 0
    oldest_pending_seconds: float = 0.0
    delivered: int = 0
    retried: int = 0
    rejected: int = 0
    #: Dead after every try of delivery.not_yet_delays: the provider did not know the user or
    #: visitor yet, and still did not at the last try.
    not_yet: int = 0
    expired: int = 0
    skipped: int = 0
    dropped: int = 0
    lost: int = 0
    #: Rendered and logged by a dry run (``delivery.mode``), never sent.
    dry_run: int = 0
    #: Events of suppressed people dropped at the door (``tracking-worker suppress``).
    suppressed: int = 0
    #: Events removed by ``tracking-worker forget`` (pending, retry, leased, parked).
    forgotten: int = 0
    enqueued: int = 0
    requests: int = 0
    #: Dead letters trimmed off the bounded stream (``dead_max``), never to be replayed.
    dead_trimmed: int = 0
    #: Dead letters removed for their age (``dead_ttl``).
    dead_aged: int = 0
    circuit: Shown = "closed"
    #: Redis time the pause ends, when open (or throttled); None otherwise.
    circuit_until: float | None = None
    circuit_reason: str = ""
    #: The setting a configuration pause names ("reject storm" for a storm), "" otherwise.
    circuit_setting: str = ""
    #: Paused routes: event name -> (setting, the provider's words).
    paused_routes: dict[str, tuple[str, str]] = field(default_factory=dict)
    latency: Latency = field(default_factory=Latency)
    #: Values in Redis that hold no number where one belongs (a counter, a histogram field, a
    #: time): each read as absent, counted here, so one bad field never fails a whole read.
    unreadable: int = 0

    @property
    def circuit_code(self) -> int:
        return CIRCUIT_CODES.get(self.circuit, 2)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        latency = data.pop("latency")
        data["requests_by_class"] = dict(latency["requests"])
        return data


@dataclass(frozen=True)
class Snapshot:
    #: Redis TIME when read.
    now: float
    providers: Mapping[str, ProviderStatus]
    #: Redis time of the last beat tick, None before the first.
    last_tick: float | None = None

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {name: status.as_json() for name, status in self.providers.items()}


def collect(settings: Settings, client: Client) -> Snapshot:
    """Every configured provider in one pipeline round trip."""
    prefix = settings.redis.key_prefix
    keyset = {name: Keys(name, prefix) for name in settings.providers}
    with converted("reading status"):
        pipe = client.pipeline(transaction=False)
        pipe.execute_command("EVAL", TIME_AT, 1, tick_key(prefix))
        pipe.get(tick_key(prefix))
        for k in keyset.values():
            pipe.hgetall(k.stats)
            pipe.llen(k.pending)
            pipe.xlen(k.dead)
            pipe.get(k.since)
            pipe.hgetall(k.circuit)
            pipe.hgetall(k.latency)
            pipe.execute_command("EVAL", _IN_FLIGHT, 1, k.leases, k.batch_prefix)
            pipe.hgetall(k.routes)
        answers = pipe.execute()
    now = redis_time(answers[0])
    tick = _time(answers[1])
    providers: dict[str, ProviderStatus] = {}
    per = 8
    for i, name in enumerate(keyset):
        part = answers[2 + i * per : 2 + (i + 1) * per]
        providers[name] = _provider(*part)
    return Snapshot(now, providers, tick)


def _provider(
    stats: Mapping[Any, Any],
    pending: int,
    dead: int,
    since: Any,
    circuit: Mapping[Any, Any],
    latency: Mapping[Any, Any],
    in_flight: Any,
    routes: Mapping[Any, Any],
) -> ProviderStatus:
    in_flight_events, bad_batches, *clock = in_flight
    now = redis_time(clock)
    read = {as_text(k): counter(v) for k, v in stats.items()}
    counters = {name: n for name, n in read.items() if n is not None}
    started = _time(since)
    oldest = max(0.0, now - started) if pending and started is not None else 0.0
    breaker = {as_text(k): as_text(v) for k, v in circuit.items()}
    state, until = circuit_state(breaker, now)
    histogram = Latency.from_hash(latency)
    unreadable = (
        len(read)
        - len(counters)
        + _int(bad_batches)
        + histogram.unreadable
        + _unreadable(since, started)
        + _unreadable(breaker.get("open_until"), _time(breaker.get("open_until")))
    )
    expired = counters.get("dead:expired", 0)
    not_yet = counters.get("dead:not_yet", 0)
    return ProviderStatus(
        pending=int(pending),
        in_flight=_int(in_flight_events),
        retry_scheduled=max(0, counters.get("in_retry", 0)),
        dead=int(dead),
        oldest_pending_seconds=round(oldest, 3),
        delivered=counters.get("delivered", 0),
        retried=counters.get("retried", 0),
        # Every dead-lettering that is neither an expiry nor a not-yet: the provider's refusal,
        # or poison.
        rejected=max(0, counters.get("dead", 0) - expired - not_yet),
        not_yet=not_yet,
        expired=expired,
        skipped=counters.get("skipped", 0),
        dropped=counters.get("dropped", 0),
        lost=counters.get("lost", 0),
        dry_run=counters.get("dry_run", 0),
        suppressed=counters.get("suppressed", 0),
        forgotten=counters.get("forgotten", 0),
        enqueued=counters.get("enqueued", 0),
        requests=counters.get("requests", 0),
        dead_trimmed=counters.get("dead_trimmed", 0),
        dead_aged=counters.get("dead_aged", 0),
        circuit=state,
        circuit_until=until,
        circuit_reason=breaker.get("reason", "") if state != "closed" else "",
        circuit_setting=breaker.get("setting", "") if state != "closed" else "",
        paused_routes=_routes(routes),
        latency=histogram,
        unreadable=unreadable,
    )


def circuit_state(circuit: Mapping[str, str], now: float) -> tuple[Shown, float | None]:
    """What the breaker means for sending right now: ``open`` while a pause runs (a tripped
    breaker, refused credentials, or a 429's Retry-After), ``half-open`` once it ended and a
    probe decides, ``closed`` otherwise."""
    state = as_state(circuit.get("state"))
    until = _time(circuit.get("open_until")) or 0.0
    if until > now:
        return "open", until
    if state == "open" or state == "half":
        return "half-open", None
    return "closed", None


def _int(value: Any) -> int:
    n = counter(value)
    return 0 if n is None else n


def _time(value: Any) -> float | None:
    """A stored Redis time in seconds; None when absent or not a time a clock can show."""
    seconds = _float(value)
    return seconds if seconds is not None and 0 <= seconds <= _LAST_TIME else None


def _unreadable(raw: Any, read: float | None) -> int:
    """1 when a value was stored but could not be read, else 0."""
    return int(raw is not None and read is None)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _routes(raw: Mapping[Any, Any]) -> dict[str, tuple[str, str]]:
    paused = {as_text(k): RoutePause.from_json(v) for k, v in raw.items()}
    return {name: (p.setting, p.reason) for name, p in sorted(paused.items())}
