"""The suppression list: people whose future events ``enqueue.lua`` drops at the door.

Each provider keeps its own copy (``Keys.suppressed``): the enqueue may read only its own
provider's slot. A change is written to the list of every provider this package knows, not
only the configured ones, so a provider enabled later already has it; each provider's copy
changes in one script call (``suppress.lua``), and a change stopped halfway (Redis gone) is
finished by running it again. Members are hashed identifiers (``people.py``), never plain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..keys import Keys
from ..people import shown
from ..providers import REGISTRY
from ..settings import Settings
from . import codec
from .connection import converted
from .lua_scripts import Scripts

if TYPE_CHECKING:
    from .connection import Client


@dataclass(frozen=True)
class Change:
    """What one ``suppress``/``unsuppress`` did."""

    #: The person's hashed identifiers as shown (``kind:hash``), one per identifier given.
    members: tuple[str, ...]
    #: Per provider list: how many of them were added (or removed); 0 everywhere for a
    #: repeated call.
    changed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Suppressed:
    """One hashed identifier on the list."""

    member: str
    #: Events of this person dropped, summed over providers (an event for two providers
    #: counts twice, as ``suppressed`` in ``status`` counts it per provider).
    dropped: int
    #: The provider lists holding it (all of them, unless a change was stopped halfway).
    providers: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.member.partition(":")[0]

    @property
    def hash(self) -> str:
        return self.member.partition(":")[2]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "hash": self.hash,
            "dropped": self.dropped,
            "providers": list(self.providers),
        }


class Suppressions:
    """The list on every provider's keys, over one client."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.scripts = Scripts()
        self.prefix = settings.redis.key_prefix
        self.providers = list(dict.fromkeys([*REGISTRY, *settings.providers]))

    def add(self, members: Iterable[bytes]) -> Change:
        return self._change("add", tuple(members))

    def remove(self, members: Iterable[bytes]) -> Change:
        return self._change("remove", tuple(members))

    def _change(self, action: str, members: tuple[bytes, ...]) -> Change:
        call = codec.Suppress(action=action, members=members)
        changed = {
            name: int(self.scripts.call(self.client, call, Keys(name, self.prefix)))
            for name in self.providers
        }
        return Change(tuple(shown(m) for m in members), changed)

    def listing(self) -> list[Suppressed]:
        """Every member of any provider's list, most dropped first."""
        dropped: dict[str, int] = {}
        holders: dict[str, list[str]] = {}
        with converted("reading the suppression list"):
            for name in self.providers:
                key = Keys(name, self.prefix).suppressed
                for raw, count in self.client.hscan_iter(key, count=1000):
                    member = shown(raw)
                    dropped[member] = dropped.get(member, 0) + _count(count)
                    holders.setdefault(member, []).append(name)
        found = [Suppressed(m, dropped[m], tuple(holders[m])) for m in dropped]
        return sorted(found, key=lambda s: (-s.dropped, s.member))


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
