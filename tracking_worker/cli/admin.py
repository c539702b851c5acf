"""The commands around the queues: check, circuit, spool, tick, metrics, sandbox, dev."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import click

from .common import (
    DEFAULT_TIMEOUT,
    PORT,
    Positive,
    enqueue_settings,
    given_timeout,
    load,
    providers_of,
    sigterm_interrupts,
)

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store.acl import Probe
    from ..store.circuit import Circuit
    from ..store.connection import Client
    from ..store.routes import Routes


@click.command(short_help="Validate the configuration, reach Redis, probe its ACL.")
@click.option("--json", "as_json", is_flag=True, help='{"ok": ..., "providers"|"error": ...}.')
def check(as_json: bool) -> int:
    """Load the settings as a worker would, reach Redis, and run each command the worker,
    beat and the CLI need once on scratch keys: a Redis ACL user that lacks one is named here,
    not at the first delivery. With --json the answer is one JSON object on stdout either way
    (exit 1 when not ok), for deploy scripts."""
    from ..errors import ConfigurationError, TrackingError
    from ..store.acl import OPTIONAL

    try:
        settings, client = load()
        found = _probe(settings, client)
        if found.refused:
            names = " ".join(f"+{c}" for c in found.refused)
            raise ConfigurationError(
                f"Redis refuses this user {len(found.refused)} command(s) tracking_worker "
                f"needs: {names} (README: Redis ACL)"
            )
    except TrackingError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"ok": False, "error": str(exc)}))
        return 1
    if as_json:
        answer = {"ok": True, "providers": list(settings.providers)}
        click.echo(json.dumps({**answer, "optional_refused": list(found.optional_refused)}))
        return 0
    names = ", ".join(settings.providers) or "none"
    click.echo(f"configuration valid; Redis reachable; providers: {names}")
    for name in found.optional_refused:
        click.echo(f"tracking-worker: Redis refuses {name}: {OPTIONAL[name]}", err=True)
    return 0


def _probe(settings: Settings, client: Client) -> Probe:
    """The ACL probe of the event store, and of the broker's own Redis beside a cluster; a
    cluster node given as a plain ``redis.url`` is refused first, saying what to set."""
    from redis.cluster import RedisCluster

    from ..errors import ConfigurationError
    from ..store.acl import Probe, probe, probe_broker
    from ..store.cluster import is_cluster_node
    from ..store.connection import broker_client, converted

    conf = settings.redis
    if not conf.cluster and not isinstance(client, RedisCluster):
        with converted("reading Redis's cluster mode"):
            clustered = is_cluster_node(client)
        if clustered:
            raise ConfigurationError(
                "redis.url is a node of a Redis Cluster (cluster_enabled:1): set "
                "redis.cluster = true, and redis.broker_url to a Redis that is no cluster node "
                "for Celery's broker (README: Redis Cluster)"
            )
    found = probe(client, conf.key_prefix)
    if not conf.cluster:
        return found
    broker = broker_client(settings, given_timeout() or DEFAULT_TIMEOUT)
    try:
        more = probe_broker(broker, conf.key_prefix)
    finally:
        broker.close()
    return Probe(found.refused + more.refused, found.optional_refused + more.optional_refused)


@click.command(short_help="The queues a worker must consume (for -Q).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list.")
def queues(as_json: bool) -> int:
    """The control queue and one per configured provider, comma-separated as -Q takes them:
    `celery -A tracking_worker worker -Q "$(tracking-worker queues)"`. A worker that leaves
    one out never delivers that provider's events (it says so at start-up)."""
    from .. import routing
    from ..settings import load_settings

    names = [routing.CONTROL_QUEUE, *map(routing.queue_name, load_settings().providers)]
    click.echo(json.dumps(names) if as_json else ",".join(names))
    return 0


@click.group(short_help="Show or reset a provider's circuit breaker.")
def circuit() -> None:
    """A provider's circuit breaker: why and until when it is open; close it now."""


def _circuit_of(provider: str) -> Circuit:
    from ..keys import Keys
    from ..store.circuit import Circuit
    from ..store.lua_scripts import Scripts

    settings, client = load()
    providers_of(settings, (provider,))
    keys = Keys(provider, settings.redis.key_prefix)
    return Circuit(client, Scripts(), keys, settings.delivery)


def _routes_of(breaker: Circuit) -> Routes:
    from ..store.routes import Routes

    return Routes(breaker.client, breaker.scripts, breaker.keys)


@circuit.command("show", short_help="The breaker's state and paused routes.")
@click.argument("provider")
@click.option("--json", "as_json", is_flag=True, help="As stored: Redis times in unix seconds.")
def circuit_show(provider: str, as_json: bool) -> int:
    """state, kind, the setting a configuration pause names, the reason it opened, failures,
    opens, until when it stays open and when it changed (local times), and the paused routes:
    each event name with the setting, the provider's words and how many events it holds."""
    from ..ops.views import circuit_table, make_console, render_text
    from ..store.connection import converted

    breaker = _circuit_of(provider)
    routes = _routes_of(breaker)
    parked = routes.parked()
    shown = {
        name: {**dataclasses.asdict(pause), "parked": parked.get(name, 0)}
        for name, pause in routes.paused().items()
    }
    state = breaker.state()
    if as_json:
        click.echo(json.dumps({**state, "paused_routes": shown}))
        return 0
    with converted("reading Redis time"):
        seconds, micros = breaker.client.time()
    now = seconds + micros / 1e6
    console = make_console()
    if console.is_terminal:
        console.print(circuit_table(state, shown, now, plain=False))
    else:
        click.echo(render_text(circuit_table(state, shown, now, plain=True)))
    return 0


@circuit.command("reset", short_help="Close it now; waiting retries are due at once.")
@click.argument("provider")
@click.option("--json", "as_json", is_flag=True, help="What it did, as JSON.")
def circuit_reset(provider: str, as_json: bool) -> int:
    """After fixing a key or a setting, or when a pause was wrong: the provider resumes at
    once, and every paused route's parked events go back to pending (once)."""
    breaker = _circuit_of(provider)
    due = max(breaker.reset(), 0)
    resumed, moved = _routes_of(breaker).resume()
    if as_json:
        done = {
            "provider": provider,
            "retry_due": due,
            "routes_resumed": resumed,
            "parked_moved": moved,
        }
        click.echo(json.dumps(done))
        return 0
    click.echo(
        f"{provider}: circuit closed; {due} retry batch(es) due now; "
        f"{resumed} paused route(s) resumed, {moved} parked event(s) back to pending"
    )
    return 0


@click.group(short_help="Events spooled while Redis was unreachable.")
def spool() -> None:
    """The local spool track() writes to when Redis is unreachable."""


@spool.command("count", short_help="Spooled events and quarantined lines.")
def spool_count() -> int:
    """How many events wait in the spool, and how many unreadable lines are quarantined."""
    from ..producer.spool import Spool
    from ..settings import load_settings

    store = Spool(load_settings().producer.spool_dir)
    click.echo(f"{store.count()} spooled; {store.quarantined()} line(s) in quarantine")
    return 0


@spool.command("drain", short_help="Enqueue every spooled event now.")
def spool_drain() -> int:
    """Also removes quarantine files older than producer.quarantine_ttl. Exit 1 when events
    are left or unreadable lines were quarantined."""
    from ..producer.tracker import Tracker
    from ..settings import load_settings

    settings = enqueue_settings(load_settings())
    tracker = Tracker(settings)
    drained = tracker.drain_spool()
    store = tracker.spool
    left = store.count()
    click.echo(f"{drained} spooled event(s) enqueued; {left} left in {store.directory}")
    aged = store.quarantine.remove_older_than(settings.producer.quarantine_ttl)
    if aged:
        click.echo(f"{aged} quarantine file(s) older than producer.quarantine_ttl removed")
    if store.quarantined_now:
        click.echo(
            f"tracking-worker: {store.quarantined_now} unreadable line(s) quarantined in "
            f"{store.quarantine_dir} ({store.quarantined()} in all)",
            err=True,
        )
    if left:
        click.echo(f"tracking-worker: {left} event(s) still spooled", err=True)
    return 0 if left == 0 and not store.quarantined_now else 1


@click.command(short_help="Reap leases and start due deliveries once.")
def tick() -> int:
    """What beat does every half flush_interval, once: useful without beat."""
    from ..routing import TICK_TASK
    from ..store.connection import converted
    from ..worker.app import create_app

    settings, client = load()
    with converted("reaching Redis"):  # a hung Redis: --timeout, not the worker's 30 s
        client.ping()
    # Now, whatever the last tick; a Redis error: one line.
    started = create_app(settings).tasks[TICK_TASK](quiet=False, force=True)
    click.echo(f"deliveries started: {', '.join(started) or 'none'}")
    return 0


@click.command(short_help="Serve Prometheus metrics read from Redis.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=PORT, default=9808, show_default=True, help="0 picks a free port.")
def metrics(host: str, port: int) -> int:
    """Per-provider gauges and counters at /metrics, read from Redis at each scrape (one
    round trip); config/prometheus/alerts.yml and config/grafana/ use them."""
    from ..errors import ConfigurationError
    from ..settings import load_settings

    try:
        from ..ops.exporter import serve
    except ImportError as exc:  # prometheus_client is the [metrics] extra
        raise ConfigurationError(
            f"metrics needs prometheus-client: pip install 'tracking-worker[metrics]' ({exc})"
        ) from None
    settings = load_settings()
    sigterm_interrupts()
    try:
        serve(settings, host, port, ready=click.echo, timeout=given_timeout())
    except OSError as exc:
        raise ConfigurationError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    except KeyboardInterrupt:
        pass
    return 0


@click.command(short_help="Serve the providers' emulated APIs.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8765, show_default=True, help="0 picks a free port.")
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the providers' settings (TOML) for a sandbox at --host/--port, and exit.",
)
def sandbox(host: str, port: int, print_config: bool) -> int:
    """Local emulators of every provider's API, for your own tests. Its control API (under
    /_sandbox: faults, latency, the requests received) is in the README."""
    if print_config:
        from ..devtools.demo import config_toml
        from ..sandbox import provider_settings

        url = f"http://{host}:{port}"
        click.echo(f"# every provider pointed at `tracking-worker sandbox` on {url}, its keys")
        click.echo(config_toml({"providers": provider_settings(url)}), nl=False)
        return 0
    from ..sandbox.cli import main as sandbox_main

    return sandbox_main(["--host", host, "--port", str(port)])


@click.command(short_help="Run Redis, the sandbox, a worker and beat locally.")
@click.option("--demo", is_flag=True, help="Also send a stream of demo events.")
@click.option("--duration", type=Positive(float), help="Exit after this many seconds.")
@click.option(
    "--rate", type=Positive(float), default=20.0, show_default=True, help="Demo events/s."
)
@click.option("--home", default=".tracking", show_default=True, help="Data and logs folder.")
def dev(demo: bool, duration: float | None, rate: float, home: str) -> int:
    """The whole system on this machine with a live status table, until Ctrl-C."""
    from ..devtools.dev import run

    return run(demo=demo, duration=duration, rate=rate, home=home)


@click.command(short_help="One event's delivery receipt, per provider.")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="The receipt as JSON.")
def trace(event_id: str, as_json: bool) -> int:
    """Where EVENT_ID stands with each provider: state, attempts, when it last changed, the
    last error and, when dead, the provider's reason. Kept delivery.receipts_ttl seconds after
    the last change; a pending event is looked for in the provider's pending list."""
    from datetime import datetime, timezone

    from ..errors import TrackingError
    from ..store.receipts import receipt_of

    settings, client = load()
    found = receipt_of(client, settings, event_id)
    if not found:
        raise TrackingError(
            f"no receipt for event {event_id} (unknown, last changed longer ago than "
            "delivery.receipts_ttl, or receipts are off and it is no longer pending)"
        )
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return 0
    click.echo(f"{'provider':<12} {'state':<10} {'attempts':>8}  {'updated (UTC)':<23}  detail")
    for provider, got in found.items():
        when = got.get("updated_at")
        stamp = (
            datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds")[:23]
            if when
            else "-"
        )
        detail = got.get("reason") or got.get("error") or ""
        click.echo(f"{provider:<12} {got['state']:<10} {got['attempts']:>8}  {stamp:<23}  {detail}")
    return 0
