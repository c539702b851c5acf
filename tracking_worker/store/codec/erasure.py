"""The layouts of the scripts that remove a person's events (``forget``): each takes the person
as needles (``Person.needles``: field, value, JSON triples, flat) after its named arguments,
counted by ``needles_len``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..connection import as_text
from .layout import Arg, Layout


def _needles(tail: Sequence[Arg], script: str) -> tuple[tuple[str, ...], Sequence[Arg]]:
    """The needles at the head of a tail (their count first), and what follows them."""
    count = int(tail[0]) if tail else -1
    if count < 0 or count % 3 or len(tail) < 1 + count:
        raise ValueError(f"{script}: needles_len does not match the needles given")
    return tuple(as_text(a) for a in tail[1 : 1 + count]), tail[1 + count :]


class _NeedlesTail:
    """The tail of a layout that takes the person's needles alone (a mixin: every layout
    derives from Layout directly, which is how ``LAYOUTS`` finds them)."""

    SCRIPT: ClassVar[str]
    TAIL: ClassVar[tuple[str, ...]] = ("needles",)
    COUNTS: ClassVar[tuple[str, ...]] = ("needles_len",)
    needles: tuple[str, ...]

    def tail(self) -> list[Arg]:
        return [len(self.needles), *self.needles]

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        needles, rest = _needles(tail, cls.SCRIPT)
        if rest:
            raise ValueError(f"{cls.SCRIPT}: arguments after the needles")
        return {"needles": needles}


@dataclass(frozen=True)
class ForgetGuard(_NeedlesTail, Layout):
    """Announce a forget's run on a provider (``seconds`` > 0), or end it (0)."""

    SCRIPT = "forget_guard"
    KEYS = ("forgetting",)
    token: str
    seconds: float
    needles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForgetList(_NeedlesTail, Layout):
    """Remove the person's events from one chunk of the pending list or a parked list."""

    SCRIPT = "forget_list"
    KEYS = ("pending", "stats", "since")
    parked_prefix: str
    #: "" for the pending list, else the event name whose parked list it is.
    route: str
    #: The chunk's last item, by index from the tail (-1: the newest).
    last: int
    chunk: int
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str
    needles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForgetDead(_NeedlesTail, Layout):
    """Remove the person's dead letters from one chunk of the dead stream."""

    SCRIPT = "forget_dead"
    KEYS = ("dead", "stats")
    #: The first entry id to read, inclusive ("-": the oldest).
    start: str
    chunk: int
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str
    needles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForgetBatches(Layout):
    """Remove the person's events from these retry and leased batches; a leased one keeps a
    record of them for its settle."""

    SCRIPT = "forget_batches"
    KEYS = ("retry", "stats")
    TAIL = ("needles", "batch_ids")
    COUNTS = ("needles_len",)
    batch_prefix: str
    receipts_ttl: float
    receipt_bucket: int
    receipts_prefix: str
    needles: tuple[str, ...] = ()
    batch_ids: tuple[str, ...] = ()

    def tail(self) -> list[Arg]:
        return [len(self.needles), *self.needles, *self.batch_ids]

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        needles, rest = _needles(tail, cls.SCRIPT)
        return {"needles": needles, "batch_ids": tuple(as_text(a) for a in rest)}
