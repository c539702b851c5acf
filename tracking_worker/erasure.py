"""``forget``: remove every event of one person that we still hold, and say what went where.

The files of this host come first: a drain running meanwhile is waited for, so what it moved
to Redis is there when the Redis steps look (``producer/spool_erasure.py``). Then each
configured provider, one after the other (``store/erasure.py``): its keys share one hash slot,
so every step is one script on one slot, and a provider's steps never wait on another's.

Out of reach: files on other hosts, events already delivered (the providers hold them), log
lines and Sentry events (see the README's "Personal data").
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .keys import Keys
from .person import Person
from .producer.spool_erasure import FilesErased, erase_files
from .settings import Settings
from .store.connection import converted
from .store.erasure import ProviderErasure, Removed
from .store.lua_scripts import Scripts

if TYPE_CHECKING:
    from .store.connection import Client


@dataclass(frozen=True)
class ForgetReport:
    """What one ``forget`` removed: per provider, place by place; and lines of this host's
    spool and quarantine files."""

    providers: dict[str, Removed]
    files: FilesErased
    #: The host whose files were rewritten (files on other hosts are not touched).
    host: str
    seconds: float

    @property
    def removed(self) -> int:
        """Events and lines removed, receipts not counted."""
        events = sum(r.events for r in self.providers.values())
        return events + self.files.spool + self.files.quarantine

    @property
    def unsettled(self) -> int:
        """Leased batches whose worker had not settled them when forget stopped waiting."""
        return sum(r.unsettled for r in self.providers.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "providers": {name: asdict(r) for name, r in self.providers.items()},
            "files": {
                "host": self.host,
                "directory": self.files.directory,
                "spool": self.files.spool,
                "quarantine": self.files.quarantine,
            },
            "removed": self.removed,
            "unsettled_batches": self.unsettled,
            "seconds": round(self.seconds, 3),
        }


def forget_person(
    person: Person, settings: Settings, client: Client, *, wait: float | None = None
) -> ForgetReport:
    """Remove the person's events from this host's spool and quarantine files, then from every
    configured provider's pending list, batches, parked lists and dead letters, with their
    receipts. ``wait``: how long to wait for a worker to settle a batch it was sending that held
    them (default twice ``delivery.lease_seconds``). Safe while workers run, and to repeat.
    Raises StoreError (StoreUnavailable when Redis is down) before touching anything."""
    # `forget --suppress` (issue 22, item 2) calls suppress(person) here, first: the person's
    # events tracked while forget runs are then dropped at the door.
    started = time.monotonic()
    with converted("reaching Redis"):
        client.ping()
    files = erase_files(settings.producer.spool_dir, person)
    scripts = Scripts()
    delivery = settings.delivery
    removed = {
        name: ProviderErasure(
            client,
            scripts,
            Keys(name, settings.redis.key_prefix),
            person,
            receipts_ttl=delivery.receipts_ttl,
            wait=2 * delivery.lease_seconds if wait is None else wait,
        ).run()
        for name in settings.providers
    }
    return ForgetReport(removed, files, socket.gethostname(), time.monotonic() - started)
