"""``tracking-worker metrics``: Prometheus metrics read from Redis at scrape time.

Nothing is counted in this process: every number lives in Redis (the scripts' counters, the
workers' latency hashes), so one exporter serves the whole deployment however many workers
run, restarts lose nothing, and a scrape is one pipeline round trip (``store.status.collect``)
whatever the backlog.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from ..errors import StoreError
from ..settings import Settings
from ..store.connection import scrape_client
from ..store.metrics import BUCKETS, STATUS_CLASSES
from ..store.status import OUTCOMES, ProviderStatus, Snapshot, collect

if TYPE_CHECKING:
    from ..store.connection import Client

log = logging.getLogger("tracking_worker.metrics")

P = "tracking_worker_"
#: Gauge name per ProviderStatus field.
GAUGES = {
    "pending": ("pending_events", "Events waiting in the pending list."),
    "in_flight": ("in_flight_events", "Events in batches leased to a worker now."),
    "retry_scheduled": ("retry_scheduled_events", "Events waiting for a scheduled retry."),
    "dead": ("dead_events", "Dead letters stored (replay and purge lower it)."),
    "oldest_pending_seconds": (
        "oldest_pending_seconds",
        "Age of the oldest pending event (Redis time); 0 when nothing is pending.",
    ),
    "unreadable": (
        "unreadable_values",
        "Values in Redis holding no number where one belongs (set by hand?): left out.",
    ),
}
#: Connections the exporter's socket queues before accepting them. The standard library's 5
#: made a sixth simultaneous scrape wait for the client's SYN retry (1 s): 20 concurrent
#: scrapes took up to 1.2 s.
LISTEN_BACKLOG = 128


class TrackingCollector(Collector):
    """Reads a Snapshot per scrape; when Redis cannot be read, serves ``tracking_worker_up 0``
    (and the error is logged) rather than failing the scrape, so the alert names the cause."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            snapshot = collect(self.settings, self.client)
        except StoreError as exc:
            log.error("scrape failed: %s", exc)
            snapshot = None
        yield GaugeMetricFamily(
            P + "up", "1 when the last scrape could read Redis.", value=int(snapshot is not None)
        )
        if snapshot is not None:
            yield from families(snapshot, self.settings)
        yield GaugeMetricFamily(
            P + "scrape_duration_seconds",
            "Time this scrape spent reading Redis.",
            value=time.perf_counter() - started,
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())  # no Redis read at registration time


def families(snapshot: Snapshot, settings: Settings) -> Iterator[Metric]:
    """Every metric of one snapshot, labelled ``provider``."""
    rows = snapshot.providers
    for field, (name, doc) in GAUGES.items():
        gauge = GaugeMetricFamily(P + name, doc, labels=["provider"])
        for provider, status in rows.items():
            gauge.add_metric([provider], float(getattr(status, field)))
        yield gauge
    circuit = GaugeMetricFamily(
        P + "circuit_state",
        "Circuit breaker: 0 closed, 1 half open (a probe decides), 2 open (paused).",
        labels=["provider"],
    )
    until = GaugeMetricFamily(
        P + "circuit_open_until_timestamp_seconds",
        "Unix time (Redis clock) an open circuit's pause ends; 0 when not open.",
        labels=["provider"],
    )
    for provider, status in rows.items():
        circuit.add_metric([provider], status.circuit_code)
        until.add_metric([provider], status.circuit_until or 0.0)
    yield circuit
    yield until
    yield from _paused(rows)
    events = CounterMetricFamily(
        P + "events", "Events per final or intermediate outcome.", labels=["provider", "outcome"]
    )
    for provider, status in rows.items():
        for outcome in OUTCOMES:
            events.add_metric([provider, outcome], getattr(status, outcome))
    yield events
    yield _counter("enqueued_events", "Events accepted into the pending list.", rows, "enqueued")
    yield _counter(
        "dead_letters_trimmed",
        "Dead letters dropped off the bounded stream (delivery.dead_max).",
        rows,
        "dead_trimmed",
    )
    yield _counter(
        "dead_letters_aged",
        "Dead letters removed for their age (delivery.dead_ttl).",
        rows,
        "dead_aged",
    )
    yield from _requests(snapshot)
    yield GaugeMetricFamily(
        P + "flush_interval_seconds",
        "delivery.flush_interval: how long a partial batch may wait (alerts scale by it).",
        value=settings.delivery.flush_interval,
    )
    if snapshot.last_tick is not None:
        yield GaugeMetricFamily(
            P + "last_tick_timestamp_seconds",
            "Unix time (Redis clock) of the last beat tick.",
            value=snapshot.last_tick,
        )


def _counter(name: str, doc: str, rows: Any, field: str) -> CounterMetricFamily:
    counter = CounterMetricFamily(P + name, doc, labels=["provider"])
    for provider, status in rows.items():
        counter.add_metric([provider], getattr(status, field))
    return counter


def _requests(snapshot: Snapshot) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        P + "requests",
        "HTTP requests to the provider by status class (error: no HTTP answer).",
        labels=["provider", "status_class"],
    )
    latency = HistogramMetricFamily(
        P + "request_duration_seconds",
        "Duration of one request to the provider, as the sending worker measured it.",
        labels=["provider"],
    )
    for provider, status in snapshot.providers.items():
        lat = status.latency
        for klass in STATUS_CLASSES:
            if klass in lat.requests or klass in ("2xx", "4xx", "5xx", "error"):
                requests.add_metric([provider, klass], lat.requests.get(klass, 0))
        buckets = [(_le(b), n) for b, n in zip(BUCKETS, lat.cumulative, strict=True)]
        latency.add_metric([provider], [*buckets, ("+Inf", lat.count)], lat.sum_seconds)
    yield requests
    yield latency


def _le(bound: float) -> str:
    """Bucket bounds written as the client library writes its own (``1.0``, ``+Inf``)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def registry(settings: Settings, client: Client) -> CollectorRegistry:
    """Our collector alone: no process metrics of the exporter itself to confuse dashboards."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TrackingCollector(settings, client))
    return reg


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


def start_server(
    host: str, port: int, reg: CollectorRegistry
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """prometheus_client's ``start_http_server`` (a thread per scrape) with a listen backlog
    of LISTEN_BACKLOG, on the address family of ``host`` (IPv6 too)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server_class: type[ThreadingWSGIServer] = type(
        "MetricsServer",
        (ThreadingWSGIServer,),
        {"address_family": family, "request_queue_size": LISTEN_BACKLOG},
    )
    server = make_server(host, port, make_wsgi_app(reg), server_class, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread


def serve(
    settings: Settings, host: str, port: int, ready: Any = print, timeout: float | None = None
) -> None:
    """Serve ``/metrics`` until interrupted (Ctrl-C or SIGTERM)."""
    client = scrape_client(settings, timeout)
    server, thread = start_server(host, port, registry(settings, client))
    ready(f"serving metrics on http://{host}:{server.server_port}/metrics")
    stop = threading.Event()
    try:
        while not stop.wait(3600):
            pass
    finally:
        server.shutdown()
        thread.join(5)
        client.close()


def _paused(rows: Mapping[str, ProviderStatus]) -> Iterator[Metric]:
    """What a configuration answer paused, with the setting and the provider's words."""
    setting = GaugeMetricFamily(
        P + "circuit_paused_setting",
        "1 while the provider is paused by a setting it says is wrong, or a reject storm, "
        "until circuit reset or a worker started with changed settings.",
        labels=["provider", "setting", "reason"],
    )
    routes = GaugeMetricFamily(
        P + "paused_route",
        "1 per event name paused by a per-name setting the provider says is wrong; its events "
        "are kept (parked) until circuit reset or a worker started with a changed setting.",
        labels=["provider", "route", "setting", "reason"],
    )
    for provider, status in rows.items():
        if status.circuit_setting:
            setting.add_metric([provider, status.circuit_setting, status.circuit_reason[:200]], 1)
        for route, (name, reason) in status.paused_routes.items():
            routes.add_metric([provider, route, name, reason[:200]], 1)
    yield setting
    yield routes
