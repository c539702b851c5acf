"""Speed under real provider latency, measured against what users would otherwise build.

Starts its own redis-server (``devtools.EmbeddedRedis``) and a lean provider fake
(``benchmarks/fake_provider.py``, whose speed alone is measured first, next to the sandbox's),
then runs three systems with the same ``celery worker --concurrency 2`` shape, alternating
their order, for several rounds:

- ours: ``tracking_worker.track`` + ``celery -A tracking_worker worker`` + beat (TOML config);
- A: a plain Celery task per event posting it with ``requests`` (``benchmarks/plain_app.py``);
- B: celery-batches, ``flush_every=100``, one Graspil request per flush (``batches_app.py``).

Writes ``benchmarks/results.json`` and ``benchmarks/latency.png`` and prints a table with the
median and the min-max spread of the rounds. Every number comes from this run.

    python -m benchmarks [--quick] [--scenario drain-graspil] [--systems ours,B]
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import loadgen, scaling
from benchmarks.procstat import busy_cores, group_cpu_seconds
from benchmarks.report import PROVIDER_NAMES, SYSTEMS, Results, chart, table
from benchmarks.stand import Stand, burst, drain, enqueue_latency
from benchmarks.systems import REPO, System, make_systems
from tracking_worker.devtools import Child, free_port, sandbox_args, wait_http

HERE = Path(__file__).resolve().parent
SCENARIOS = (
    "fake",
    "enqueue",
    "burst",
    "drain-graspil",
    "drain-grampixel",
    "concurrency",
    "scaling",
)
LATENCIES_MS = (0, 50, 200)


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does; ``--quick`` uses smaller ones."""

    rounds: int = 3
    enqueue_calls: int = 2000
    warmup: int = 200
    burst: int = 10_000
    #: A drain run stops when its backlog is delivered or this many seconds after worker start.
    cap: float = 6.0
    #: Events queued before the workers start, per (provider, latency ms): a few seconds of
    #: work for the fastest system seen on 2 cores, so slower ones run into ``cap``. Graspil at
    #: 0 ms is drained at about 90,000/s with two processes: 300,000 (a 100 events/s app's
    #: 50-minute outage) keeps Celery's boot (0.6 s) from being most of a run, which would
    #: hide how throughput grows with processes.
    backlog: dict[tuple[str, int], int] = field(
        default_factory=lambda: {
            ("graspil", 0): 300_000,
            ("graspil", 50): 70_000,
            ("graspil", 200): 30_000,
            ("grampixel", 0): 4_000,
            ("grampixel", 50): 2_000,
            ("grampixel", 200): 500,
        }
    )
    #: A longer cap where the backlog needs it (one process drains Graspil's at 0 ms in 6 s).
    caps: dict[tuple[str, int], float] = field(default_factory=lambda: {("graspil", 0): 12.0})
    #: Events queued per provider for the ``scaling`` scenario: four processes drain them in
    #: a few seconds (GramPixel at 50 ms: 1,280 events/s; Graspil at 200 ms: 32,000), one
    #: process runs into ``scaling_cap`` (its rate is counted up to there).
    scaling_backlog: dict[str, int] = field(
        default_factory=lambda: {"grampixel": 8_000, "graspil": 240_000}
    )
    scaling_cap: float = 10.0
    #: Seconds of load per emulator and request kind when measuring the fake alone.
    load_seconds: float = 2.0

    def cap_of(self, provider: str, ms: int) -> float:
        return self.caps.get((provider, ms), self.cap)


FULL = Sizes()
QUICK = Sizes(
    rounds=1,
    enqueue_calls=500,
    warmup=100,
    burst=2_000,
    cap=4.0,
    backlog={
        ("graspil", 0): 30_000,
        ("graspil", 50): 30_000,
        ("graspil", 200): 15_000,
        ("grampixel", 0): 2_000,
        ("grampixel", 50): 1_000,
        ("grampixel", 200): 300,
    },
    caps={},
    scaling_backlog={"grampixel": 4_000, "graspil": 100_000},
    scaling_cap=6.0,
    load_seconds=1.0,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="1 round and smaller sizes")
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"run only these (repeatable; a prefix such as 'drain' works): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--systems", default="ours,A,B", help="comma-separated: ours, A, B")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--cap", type=float, help="override the drain time cap (seconds)")
    parser.add_argument("--output", type=Path, default=HERE, help="where results go")
    args = parser.parse_args(argv)
    chosen = args.scenario or list(SCENARIOS)
    unknown = [c for c in chosen if not any(s == c or s.startswith(c) for s in SCENARIOS)]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown or not systems or set(systems) - set(SYSTEMS):
        parser.error(f"scenarios are {', '.join(SCENARIOS)}; systems are {', '.join(SYSTEMS)}")
    args.selected = [s for s in SCENARIOS if any(s == c or s.startswith(c) for c in chosen)]
    args.system_keys = [s for s in SYSTEMS if s in systems]
    missing = [
        name
        for name, needed in (("celery_batches", "B" in systems), ("matplotlib", True))
        if needed and importlib.util.find_spec(name) is None
    ]
    if missing:
        parser.error(f"missing {', '.join(missing)}: pip install -e '.[bench]'")
    return args


def declare_rows(results: Results, selected: list[str], sizes: Sizes) -> None:
    """Every row the selected scenarios fill, in table order."""
    if "enqueue" in selected:
        label = f"enqueue 1 event (track / delay), median of {sizes.enqueue_calls:,} calls"
        results.row("enqueue.median", label, "ms/call", higher_is_better=False)
        label = f"enqueue 1 event (track / delay), p99 of {sizes.enqueue_calls:,} calls"
        results.row("enqueue.p99", label, "ms/call", higher_is_better=False)
        label = "  Redis PING round trip in the same process, median (any enqueue's floor)"
        results.row("enqueue.ping", label, "ms/call", higher_is_better=False)
    if "burst" in selected:
        label = f"burst of {sizes.burst:,} (ours: 1 track_many; A, B: delay() loop)"
        results.row("burst.rate", label, "events/s")
        label = f"Redis memory per pending event (its keys' MEMORY USAGE, {sizes.burst:,} pending)"
        results.row("burst.memory", label, "bytes/event", higher_is_better=False)
        label = "  same, as used_memory growth less client buffers (allocator slack included)"
        results.row("burst.used_memory", label, "bytes/event", higher_is_better=False)
    drains = [s.removeprefix("drain-") for s in selected if s.startswith("drain-")]
    for provider in drains:
        for ms in LATENCIES_MS:
            backlog = sizes.backlog[(provider, ms)]
            label = f"drain → {PROVIDER_NAMES[provider]}, {ms} ms latency ({backlog:,} queued)"
            results.row(f"drain.{provider}.{ms}", label, "events/s")
    if "concurrency" in selected:
        backlog = sizes.backlog[("graspil", 0)]
        for n in (1, 2):
            label = f"drain → Graspil, 0 ms, --concurrency {n} ({backlog:,} queued)"
            results.row(f"concurrency.{n}", label, "events/s")
        # Start-up (Celery's boot, about 0.6 s, as long for A and B) is the same whatever the
        # processes: throughput per process count is read from the first delivery on, as the
        # GramPixel scaling rows are.
        for n in (1, 2):
            label = f"  same, first to last delivery (--concurrency {n})"
            results.row(f"concurrency.{n}.steady", label, "events/s")
    for provider in drains:
        label = f"worker CPU per 1,000 delivered ({PROVIDER_NAMES[provider]}, 0 ms)"
        results.row(f"cpu.{provider}", label, "CPU s/1,000 events", higher_is_better=False)
    for provider in drains:
        label = f"  + ours' beat process ({PROVIDER_NAMES[provider]}, 0 ms)"
        results.row(f"cpu.{provider}.beat", label, "CPU s/1,000 events", higher_is_better=False)
    for provider in drains:
        label = f"redis-server CPU per 1,000 delivered ({PROVIDER_NAMES[provider]}, 0 ms)"
        results.row(f"cpu.{provider}.redis", label, "CPU s/1,000 events", higher_is_better=False)
    if "scaling" in selected:
        scaling.declare_rows(results, sizes.scaling_backlog)
    if drains or "concurrency" in selected or "scaling" in selected:
        label = "worker start → first delivery (every drain run)"
        results.row("startup", label, "s", higher_is_better=False)


def measure_emulators(stand: Stand, home: Path, seconds: float) -> dict[str, Any]:
    """Each emulator alone, hammered by 32 keep-alive connections: the fake used for every run
    and, for comparison, the sandbox (``tracking-worker sandbox``, a ThreadingHTTPServer)."""
    out: dict[str, Any] = {}
    kinds = {"one-event (GramPixel)": loadgen.grampixel_request}
    kinds["batch of 100 (Graspil)"] = loadgen.graspil_request
    stand.fresh()
    for kind, make in kinds.items():
        result = loadgen.measure(
            "127.0.0.1",
            stand.fake_port,
            make,
            server_cpu=lambda: group_cpu_seconds(stand.fake.pid),
            seconds=seconds,
        )
        out.setdefault("fake", {})[kind] = result.as_dict()
    port = free_port()
    sandbox = Child("sandbox", sandbox_args(port), log_path=home / "sandbox.log").start()
    try:
        wait_http(f"http://127.0.0.1:{port}/_sandbox/health")
        for kind, make in kinds.items():
            result = loadgen.measure(
                "127.0.0.1",
                port,
                make,
                server_cpu=lambda: group_cpu_seconds(sandbox.pid),
                seconds=seconds,
            )
            out.setdefault("sandbox", {})[kind] = result.as_dict()
    finally:
        sandbox.stop()
    stand.fresh()
    return out


class Runner:
    """Runs the selected scenarios round by round, alternating the systems' order."""

    def __init__(
        self, stand: Stand, systems: dict[str, System], sizes: Sizes, results: Results
    ) -> None:
        self.stand = stand
        self.systems = systems
        self.sizes = sizes
        self.results = results
        self.counter = 0
        self.errors: list[str] = []

    def round(self, index: int, selected: list[str]) -> None:
        keys = list(self.systems)
        order = keys[index % len(keys) :] + keys[: index % len(keys)]
        tag = f"[round {index + 1}/{self.sizes.rounds}]"
        for scenario in selected:
            if scenario == "fake":
                continue
            for key in order:
                self.scenario(scenario, self.systems[key], tag)

    def guarded(self, what: str, run: Callable[[], None]) -> None:
        """Run one measurement; a failure is reported and the others go on."""
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - one failed run must not lose the rest
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            say(f"error: {self.errors[-1]} (logs in {self.stand.home})")

    def scenario(self, scenario: str, system: System, tag: str) -> None:
        what = f"{tag} {scenario} · {system.key}"
        if scenario == "enqueue":
            self.guarded(what, lambda: self.enqueue(system, tag))
        elif scenario == "burst":
            self.guarded(what, lambda: self.burst(system, tag))
        elif scenario.startswith("drain-"):
            provider = scenario.removeprefix("drain-")
            for ms in LATENCIES_MS:
                sweep = functools.partial(self.sweep, system, provider, ms, tag)
                self.guarded(f"{what} {ms} ms", sweep)
        elif scenario == "concurrency":
            self.guarded(f"{what} c1", lambda: self.concurrency(system, 1, tag))
            if "drain.graspil.0" not in self.results.rows:
                self.guarded(f"{what} c2", lambda: self.concurrency(system, 2, tag))

        elif scenario == "scaling" and system.key == "ours":  # see benchmarks/scaling.py
            self.guarded(what, lambda: self.scaling(system, tag))

    def scaling(self, system: System, tag: str) -> None:
        def run_name(what: str) -> str:
            self.counter += 1
            return f"{self.counter:03d}-{system.key}-{what}"

        scaling.run_round(
            self.stand,
            system,
            self.results,
            backlogs=self.sizes.scaling_backlog,
            cap=self.sizes.scaling_cap,
            run_name=run_name,
            say=lambda line: say(f"{tag} {line}"),
        )

    def enqueue(self, system: System, tag: str) -> None:
        rows = self.results.rows
        got = enqueue_latency(self.stand, system, self.sizes.enqueue_calls, self.sizes.warmup)
        rows["enqueue.median"].add(system.key, got["median_ms"], got)
        rows["enqueue.p99"].add(system.key, got["p99_ms"])
        rows["enqueue.ping"].add(system.key, got["ping_median_ms"])
        say(
            f"{tag} enqueue · {system.key}: median {got['median_ms']:.3f} ms, "
            f"p99 {got['p99_ms']:.3f} ms"
        )

    def burst(self, system: System, tag: str) -> None:
        rows = self.results.rows
        got = burst(self.stand, system, self.sizes.burst)
        rows["burst.rate"].add(system.key, got["events_per_second"], got)
        rows["burst.memory"].add(system.key, got["bytes_per_event"])
        rows["burst.used_memory"].add(system.key, got["used_memory_bytes_per_event"])
        say(
            f"{tag} burst · {system.key}: {got['events_per_second']:,.0f} events/s, "
            f"{got['bytes_per_event']:,.0f} bytes/event in Redis"
        )

    def sweep(self, system: System, provider: str, ms: int, tag: str) -> None:
        """One point of the latency sweep (``--concurrency 2``)."""
        rows = self.results.rows
        got = self.drain(system, provider, ms, 2, tag)
        rows[f"drain.{provider}.{ms}"].add(system.key, got["events_per_second"], got)
        if ms == 0:
            self.cpu_rows(system, provider, got)
            if provider == "graspil" and "concurrency.2" in rows:
                self.concurrency_rows(system, 2, got)

    def concurrency(self, system: System, processes: int, tag: str) -> None:
        self.concurrency_rows(system, processes, self.drain(system, "graspil", 0, processes, tag))

    def concurrency_rows(self, system: System, processes: int, got: dict[str, Any]) -> None:
        rows = self.results.rows
        rows[f"concurrency.{processes}"].add(system.key, got["events_per_second"], got)
        steady = got.get("steady_events_per_second") or 0.0
        rows[f"concurrency.{processes}.steady"].add(system.key, steady)

    def drain(self, system: System, provider: str, ms: int, concurrency: int, tag: str) -> Any:
        self.counter += 1
        cap = self.sizes.cap_of(provider, ms)
        got = drain(
            self.stand,
            system,
            provider,
            latency=ms / 1000,
            backlog=self.sizes.backlog[(provider, ms)],
            concurrency=concurrency,
            cap=cap,
            run=f"{self.counter:03d}-{system.key}-{provider}-{ms}ms-c{concurrency}",
        )
        got.update(provider=provider, latency_ms=ms, concurrency=concurrency)
        if "startup_seconds" in got:
            self.results.rows["startup"].add(system.key, got["startup_seconds"])
        state = "drained" if got["drained"] else f"capped at {cap:g} s"
        say(
            f"{tag} drain {provider} {ms} ms c{concurrency} · {system.key}: "
            f"{got['events_per_second']:,.0f} events/s ({got['delivered']:,}/{got['backlog']:,}"
            f" {state}, {got['requests']:,} requests)"
        )
        return got

    def cpu_rows(self, system: System, provider: str, got: dict[str, Any]) -> None:
        rows = self.results.rows
        if "cpu_per_1000" in got:
            rows[f"cpu.{provider}"].add(system.key, got["cpu_per_1000"])
            rows[f"cpu.{provider}.redis"].add(system.key, got["redis_cpu_per_1000"])
            if system.key == "ours":
                rows[f"cpu.{provider}.beat"].add(system.key, got["others_cpu_per_1000"])


def say(text: str) -> None:
    print(text, flush=True)


def metadata(args: argparse.Namespace, sizes: Sizes, stand: Stand) -> dict[str, Any]:
    """What the numbers were measured on."""

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", "--no-optional-locks", *cmd],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=10,
            )
        except OSError:
            return ""
        return done.stdout.strip()

    packages = ("tracking-worker", "celery", "kombu", "celery-batches", "redis", "requests")
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:],
        "quick": args.quick,
        "scenarios": args.selected,
        "systems": args.system_keys,
        "sizes": {
            **sizes.__dict__,
            "backlog": {f"{p}/{ms}ms": n for (p, ms), n in sizes.backlog.items()},
            "caps": {f"{p}/{ms}ms": cap for (p, ms), cap in sizes.caps.items()},
        },
        "cpus": os.cpu_count(),
        "busy_cores_before": round(busy_cores(1.0), 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in packages},
        "redis_server": stand.client.info("server").get("redis_version"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "worker_shape": "celery worker --pool prefork --concurrency N --loglevel WARNING "
        "--without-gossip --without-mingle --without-heartbeat (devtools.worker_args)",
    }


def _caps(sizes: Sizes) -> str:
    """The longer caps, as the notes say them: 'Graspil 0 ms: 12 s; '."""
    caps = sizes.caps.items()
    return "".join(f"{PROVIDER_NAMES[p]} {ms} ms: {cap:g} s; " for (p, ms), cap in caps)


def notes(extra: dict[str, Any], results: Results, meta: dict[str, Any], sizes: Sizes) -> str:
    """What the table needs beside it: the emulators' own speed, load, capped runs."""
    lines = [
        "Units: each row names its unit; cells are median (min-max) over rounds.",
        f"drain: events/s = delivered / seconds from worker start to the last delivery, for a "
        f"backlog queued before start; a run stops at its backlog or {sizes.cap:g} s after "
        f"start ({_caps(sizes)}capped runs count what they delivered by then).",
        "CPU: utime+stime of the worker's process tree (/proc; redis-server's apart), from the "
        "first delivery to the end of the run, per 1,000 events delivered in that window.",
    ]
    emulators = extra.get("emulators")
    if emulators:
        for name, kinds in emulators.items():
            parts = [
                f"{kind}: {r['requests_per_second']:,.0f} req/s = {r['events_per_second']:,.0f} "
                f"events/s at {r['server_cores']:.2f} cores"
                for kind, r in kinds.items()
            ]
            lines.append(f"{name} alone (32 connections): " + "; ".join(parts))
    fake_cores = [
        run.get("fake_cores", 0.0)
        for row in results.rows.values()
        for runs in row.runs.values()
        for run in runs
        if "fake_cores" in run
    ]
    if fake_cores:
        lines.append(f"fake during drains: at most {max(fake_cores):.2f} of a core")
    foreign = [
        run["foreign_cores"]
        for row in results.rows.values()
        for runs in row.runs.values()
        for run in runs
        if run.get("foreign_cores") is not None
    ]
    if foreign:
        lines.append(
            f"other processes on the machine during drains: median "
            f"{statistics.median(foreign):.2f}, at most {max(foreign):.2f} cores "
            f"(of {meta['cpus']})"
        )
    capped = sorted(
        {
            f"{system} {run['provider']} {run['latency_ms']} ms c{run['concurrency']}"
            for row in results.rows.values()
            for system, runs in row.runs.items()
            for run in runs
            if run.get("drained") is False
        }
    )
    if capped:
        lines.append("capped (did not drain in time): " + ", ".join(capped))
    if "scaling.tick" in results.rows:
        lines.append(
            f"scaling: from the first delivery to the last; a run stops at its backlog or "
            f"{sizes.scaling_cap:g} s after start (capped runs count what they delivered)."
        )
    busy = meta["busy_cores_before"]
    lines.append(f"busy cores in the second before the run: {busy:.2f} of {meta['cpus']}")
    if busy > 0.25 or (foreign and max(foreign) > 0.25):
        lines.append("warning: other work shared these CPUs; numbers may be low and noisy")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    if args.cap:
        sizes = replace(sizes, cap=args.cap, caps={})  # every drain
    home = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    say(f"logs and data: {home}")
    started = time.monotonic()
    stand = Stand(home)
    results = Results()
    extra: dict[str, Any] = {}
    try:
        meta = metadata(args, sizes, stand)
        declare_rows(results, args.selected, sizes)
        if "fake" in args.selected:
            extra["emulators"] = measure_emulators(stand, home, sizes.load_seconds)
            for name, kinds in extra["emulators"].items():
                for kind, got in kinds.items():
                    say(
                        f"{name} alone, {kind}: {got['requests_per_second']:,.0f} req/s at "
                        f"{got['server_cores']:.2f} cores"
                    )
        every = make_systems(home, stand.redis.url, stand.fake_url)
        systems = {key: every[key] for key in args.system_keys}
        runner = Runner(stand, systems, sizes, results)
        for index in range(sizes.rounds):
            runner.round(index, args.selected)
        extra["errors"] = runner.errors
    finally:
        stand.stop()
    meta["seconds"] = round(time.monotonic() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    results.write_json(args.output / "results.json", meta, extra)
    drew = chart(results, args.output / "latency.png", list(LATENCIES_MS))
    say("")
    say(table(results, sizes.rounds))
    say("")
    say(notes(extra, results, meta, sizes))
    written = ["results.json"] + (["latency.png"] if drew else [])
    say(f"\nwrote {', '.join(str(args.output / w) for w in written)} in {meta['seconds']:.0f} s")
    for error in extra.get("errors", []):
        say(f"error: {error}")
    return 1 if extra.get("errors") else 0
