"""Letting time pass in Redis without waiting: every stored moment of a provider (lease
deadlines, retry due times, dedupe windows, when the oldest pending event came, the circuit's
pause and probe, the rate limit's last refill, when its runs and worker nodes lapse) moves
``seconds`` into the past, as if Redis's clock had moved on."""

from __future__ import annotations

import redis

from tracking_worker.keys import RECEIPT_BUCKET_SECONDS, Keys


def advance(client: redis.Redis, keys: Keys, seconds: float) -> None:
    for zset in (keys.leases, keys.retry, keys.seen):
        for member, score in client.zrange(zset, 0, -1, withscores=True):
            client.zadd(zset, {member: score - seconds})
    since = client.get(keys.since)
    if since is not None:
        client.set(keys.since, float(since) - seconds)
    for key, fields in ((keys.circuit, ("open_until", "probe_until")), (keys.rate, ("at",))):
        for field in fields:
            value = client.hget(key, field)
            if value is not None and float(value) > 0:
                client.hset(key, field, float(value) - seconds)
    for key in (keys.runs, keys.nodes):  # "<lapses at, ms>|...": each lapses that much sooner
        for field, value in client.hgetall(key).items():
            lapses, rest = value.split(b"|", 1)
            client.hset(key, field, b"%d|%s" % (int(lapses) - int(seconds * 1000), rest))


def age_receipts(client: redis.Redis, keys: Keys, buckets: int = 1) -> None:
    """Move every receipts hash of the provider ``buckets`` buckets into the past, its expiry
    with it, as if written that much earlier (oldest first, so none lands on a newer one)."""
    prefix = keys.receipts_prefix
    found = sorted(int(k.decode()[len(prefix) :]) for k in client.scan_iter(f"{prefix}*"))
    for bucket in found:
        left = int(client.pttl(keys.receipts(bucket)))
        client.rename(keys.receipts(bucket), keys.receipts(bucket - buckets))
        if left > 0:
            client.pexpire(
                keys.receipts(bucket - buckets), left - buckets * RECEIPT_BUCKET_SECONDS * 1000
            )


def redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def age_dead_letters(client: redis.Redis, keys: Keys, seconds: float) -> None:
    """Move every dead letter of the provider ``seconds`` into the past: a stream id is the
    Redis time its entry was written (ms), so the stream is written anew, oldest first, with
    each id (and its ``dead_at``) that much earlier."""
    entries = client.xrange(keys.dead)
    client.delete(keys.dead)
    shift = int(seconds * 1000)
    for entry_id, fields in entries:
        ms, _, seq = entry_id.decode().partition("-")
        if b"dead_at" in fields:
            fields[b"dead_at"] = float(fields[b"dead_at"]) - seconds
        client.xadd(keys.dead, fields, id=f"{int(ms) - shift}-{seq}")
