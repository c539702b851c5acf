"""Every fault test ends the same way: each produced event is delivered or dead, none lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Ledger:
    produced: int
    delivered: int
    dead: int
    lost: int
    duplicates: int

    def line(self, name: str) -> str:
        return (
            f"{name}: produced={self.produced} delivered={self.delivered} dead={self.dead} "
            f"lost={self.lost} duplicates={self.duplicates}"
        )


def account(produced: Iterable[int], received: Iterable[int], dead: Iterable[int]) -> Ledger:
    """Compare who was produced with who the provider got and who is in the dead letters."""
    wanted = list(produced)
    got = Counter(received)
    dead_ids = set(dead)
    lost = [u for u in wanted if u not in got and u not in dead_ids]
    return Ledger(
        len(wanted),
        len(set(got) & set(wanted)),
        len(dead_ids),
        len(lost),
        sum(n - 1 for n in got.values()),
    )


def report(ledger: Ledger, name: str) -> None:
    """Figures for the closing note; pytest -s or the junit log shows them."""
    print(ledger.line(name))
