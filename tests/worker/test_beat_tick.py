"""Beat's tick runs in the beat process (worker/beat.py): it keeps its interval while every
worker process is busy delivering, and two beats at once tick as one and send nothing twice."""

from __future__ import annotations

from collections.abc import Callable

import redis

from tests.helpers import wait_for
from tests.store.timetravel import redis_now
from tests.system import System
from tracking_worker.devtools import Child, beat_args
from tracking_worker.keys import Keys, tick_key
from tracking_worker.sandbox import SandboxServer

#: beat ticks twice per flush_interval.
FLUSH = 1.0
INTERVAL = FLUSH / 2


def sample_ticks(client: redis.Redis, seconds: float) -> list[tuple[float, float]]:
    """(Redis time, the last tick's time), sampled every 20 ms for ``seconds``."""
    samples: list[tuple[float, float]] = []
    until = redis_now(client) + seconds

    def sample() -> bool:
        now = redis_now(client)
        samples.append((now, float(client.get(tick_key()) or 0)))
        return now >= until

    wait_for(sample, seconds + 10, interval=0.02)
    return samples


def busy(client: redis.Redis, providers: list[str]) -> bool:
    return all(client.hlen(Keys(p).runs) for p in providers)


def purchases(count: int, provider: str, first: int = 1) -> list[dict[str, object]]:
    return [
        {"name": "purchase", "telegram_id": n, "value": 1.0, "currency": "USD"}
        | {"providers": [provider]}
        for n in range(first, first + count)
    ]


def test_the_tick_keeps_its_interval_while_every_worker_process_delivers(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    """Both processes of the worker held by slow deliveries (1.5 s a request, a backlog each):
    "last tick" stays under two intervals. As a task queued behind them, it waited."""
    providers = ["graspil", "grampixel"]
    for provider in providers:
        sandbox.set_latency(provider, 1.5)
    system = make_system(
        providers=providers,
        delivery={"flush_interval": FLUSH},
        provider_overrides={p: {"max_connections": 1} for p in providers},
    )
    for provider in providers:
        system.tracker.track_many(purchases(2000, provider))
    wait_for(lambda: busy(redis_client, providers), 30, message=system.log())
    wait_for(lambda: redis_client.get(tick_key()), 30, message=system.log())  # beat started
    ages = [now - tick for now, tick in sample_ticks(redis_client, 5.0)]
    assert busy(redis_client, providers)  # every process was delivering all along
    assert max(ages) < 2 * INTERVAL, f"last tick {max(ages):.2f} s ago at most"


def test_two_beats_tick_as_one_and_deliver_each_event_once(
    make_system: Callable[..., System], sandbox: SandboxServer, redis_client: redis.Redis
) -> None:
    system = make_system(
        providers=["graspil", "grampixel"], delivery={"flush_interval": FLUSH}, beat=False
    )
    logs = [system.home / f"beat-{n}.log" for n in (1, 2)]
    beats = [
        Child(
            log.stem,
            beat_args(log.with_suffix(".db"), loglevel="INFO"),
            env=system.env,
            log_path=log,
        ).start()
        for log in logs
    ]
    try:
        for log in logs:  # beat_init: each beat's tick thread runs from here on
            wait_for(lambda log=log: "beat: Starting" in log.read_text(), 30, message=system.log())
        ticks = {tick for _, tick in sample_ticks(redis_client, 4.0)}
        # Two beats unclaimed would tick about twice per interval; claimed, at most once per
        # three quarters of one (ticker.MIN_GAP).
        assert 4.0 / INTERVAL * 0.5 <= len(ticks) <= 4.0 / INTERVAL / 0.75 + 2, sorted(ticks)
        system.tracker.track_many(purchases(150, "graspil"))  # a partial batch: the tick's
        system.tracker.track_many(purchases(150, "grampixel", first=1000))
        for provider in ("graspil", "grampixel"):
            wait_for(lambda p=provider: system.settled(p, 150), 30, message=system.log())
    finally:
        for beat in beats:
            beat.kill()
    assert sorted(r["user_id"] for r in sandbox.received("graspil")) == list(range(1, 151))
    received = sorted(r["telegram_id"] for r in sandbox.received("grampixel"))
    assert received == list(range(1000, 1150))
