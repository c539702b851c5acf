"""Every Redis key name, from one place. All keys of a provider share the ``{provider}`` hash
tag, so each Lua script touches one slot and runs on Redis Cluster too."""

from __future__ import annotations

from dataclasses import dataclass

#: Receipts are grouped by when they were written (Redis time): one hash per provider per this
#: many seconds, expired as a whole. A constant, never derived from ``receipts_ttl``, so a CLI
#: and workers configured differently still agree on which hash holds what.
RECEIPT_BUCKET_SECONDS = 600


def tick_key(prefix: str = "tw") -> str:
    """When beat's tick last ran (Redis time); one for all providers."""
    return f"{prefix}:tick"


@dataclass(frozen=True)
class Keys:
    provider: str
    prefix: str = "tw"

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{self.provider}}}"

    @property
    def pending(self) -> str:
        return f"{self.base}:pending"

    @property
    def leases(self) -> str:
        return f"{self.base}:leases"

    @property
    def retry(self) -> str:
        return f"{self.base}:retry"

    @property
    def dead(self) -> str:
        return f"{self.base}:dead"

    @property
    def stats(self) -> str:
        return f"{self.base}:stats"

    @property
    def circuit(self) -> str:
        return f"{self.base}:circuit"

    @property
    def routes(self) -> str:
        """The paused routes: a hash, event name -> JSON record (setting, reason, status,
        fingerprint, since) of the configuration answer that paused it."""
        return f"{self.base}:routes"

    @property
    def parked_prefix(self) -> str:
        """The events set aside while their route is paused: lists ``<prefix><event name>``."""
        return f"{self.base}:parked:"

    def parked(self, route: str) -> str:
        return f"{self.parked_prefix}{route}"

    @property
    def rate(self) -> str:
        return f"{self.base}:rate"

    @property
    def runs(self) -> str:
        """The delivery runs of this provider now: a hash, run token -> "<lapses at, ms>|<worker
        node>|<fast: 0|1>", each renewed by its run's heartbeat (store/lua/run_slot.lua)."""
        return f"{self.base}:runs"

    @property
    def nodes(self) -> str:
        """The worker nodes consuming this provider's queue: a hash, node -> "<lapses at,
        ms>|<processes>", renewed by each node's main process (store/lua/node_beat.lua)."""
        return f"{self.base}:nodes"

    @property
    def latency(self) -> str:
        """The request-duration histogram and status-class counters."""
        return f"{self.base}:latency"

    @property
    def trigger(self) -> str:
        return f"{self.base}:trigger"

    @property
    def batch_prefix(self) -> str:
        return f"{self.base}:batch:"

    def batch(self, batch_id: str) -> str:
        return f"{self.batch_prefix}{batch_id}"

    @property
    def seen(self) -> str:
        return f"{self.base}:seen"

    @property
    def ids_prefix(self) -> str:
        """The event ids enqueue.lua took: hashes ``<prefix><bucket>:<shard>`` (see there)."""
        return f"{self.base}:ids:"

    @property
    def suppressed(self) -> str:
        """The people whose events enqueue.lua drops: a hash, hashed identifier (people.py)
        -> events of theirs dropped for this provider. Every provider has its own copy, so the
        enqueue reads it within its provider's slot."""
        return f"{self.base}:suppressed"

    @property
    def receipts_prefix(self) -> str:
        return f"{self.base}:receipts:"

    def receipts(self, bucket: int) -> str:
        """The delivery receipts written during one bucket of RECEIPT_BUCKET_SECONDS (Redis
        time): a hash, event id -> "state|attempts|updated_at ms|text"."""
        return f"{self.receipts_prefix}{bucket}"

    @property
    def forgetting(self) -> str:
        """The people a ``forget`` is removing right now: a hash, run token -> JSON (their
        identifiers, until when); replay and route resume drop their events (forget_lib.lua)."""
        return f"{self.base}:forgetting"

    @property
    def since(self) -> str:
        """When the oldest event still pending was enqueued (Redis time), or a bit earlier."""
        return f"{self.base}:since"
