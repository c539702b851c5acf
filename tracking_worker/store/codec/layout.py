"""The base of every script's layout: named ARGV built and read back in one place."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from ...keys import Keys
from ..connection import as_text

Arg = str | int | float | bytes
L = TypeVar("L", bound="Layout")


class Layout:
    """One script's arguments. Subclasses are frozen dataclasses whose fields are its ARGV."""

    #: The script, a file of ``store/lua/``.
    SCRIPT: ClassVar[str]
    #: Its KEYS in order, as ``Keys`` attributes (``batch`` is the batch of ``batch_id``).
    KEYS: ClassVar[tuple[str, ...]]
    #: The fields after the named ARGV, of any length (encoded by ``tail``).
    TAIL: ClassVar[tuple[str, ...]] = ()
    #: The lengths the tail starts with that Lua names as well (settle's ``histogram_len``).
    COUNTS: ClassVar[tuple[str, ...]] = ()
    #: The named ARGV, each with the reader of its type: set once, below, for every layout.
    FIXED: ClassVar[tuple[tuple[str, Callable[[Arg], Any]], ...]] = ()

    @classmethod
    def keys(cls, k: Keys, batch_id: str = "") -> list[str]:
        """Its KEYS on the provider of ``k``; ``batch_id`` names the batch of key ``batch``."""
        return [k.batch(batch_id) if n == "batch" else getattr(k, n) for n in cls.KEYS]

    def args(self) -> list[Arg]:
        """The call's ARGV: the named fields in order (a flag as 1 or 0), then the tail."""
        head = [_wire(getattr(self, name)) for name, _ in self.FIXED]
        return head + self.tail() if self.TAIL else head

    def tail(self) -> list[Arg]:
        """The variable-length ARGV after the named ones (none unless ``TAIL`` names some)."""
        return []

    @classmethod
    def parse(cls: type[L], argv: Sequence[Arg]) -> L:
        """The call whose ARGV is ``argv``, as ``args`` built it or as Lua sees it (text)."""
        fixed = cls.FIXED
        if len(argv) < len(fixed) or (len(argv) > len(fixed) and not cls.TAIL):
            raise ValueError(f"{cls.SCRIPT}: {len(argv)} arguments for {len(fixed)} fields")
        values = {
            name: read(arg) for (name, read), arg in zip(fixed, argv[: len(fixed)], strict=True)
        }
        build = typing.cast(Callable[..., L], cls)
        return build(**values, **cls.parse_tail(argv[len(fixed) :]))

    @classmethod
    def parse_tail(cls, tail: Sequence[Arg]) -> dict[str, Any]:
        """The ``TAIL`` fields read back from the ARGV after the named ones."""
        return {}

    @classmethod
    def named(cls) -> tuple[str, ...]:
        """The ARGV the script opens with as named locals, in order."""
        return tuple(name for name, _ in cls.FIXED) + cls.COUNTS


def _wire(value: Any) -> Any:
    """A flag travels as 1 or 0; every other value as it is (redis-py writes it as text)."""
    return (1 if value else 0) if isinstance(value, bool) else value


def _flag(arg: Arg) -> bool:
    return int(arg) == 1


_READERS: dict[Any, Callable[[Arg], Any]] = {str: as_text, int: int, float: float, bool: _flag}


def _fixed(cls: type[Layout]) -> tuple[tuple[str, Callable[[Arg], Any]], ...]:
    """The named ARGV of ``cls`` in order, each with the reader of its type."""
    hints = typing.get_type_hints(cls)
    fields = (f.name for f in dataclasses.fields(typing.cast(Any, cls)))
    return tuple((name, _READERS[hints[name]]) for name in fields if name not in cls.TAIL)


def _pairs(tail: Sequence[Arg], script: str) -> tuple[str, ...]:
    if len(tail) % 2:
        raise ValueError(f"{script}: an odd number of paired arguments")
    return tuple(as_text(a) for a in tail)


def as_bytes(arg: Arg) -> bytes:
    return arg if isinstance(arg, bytes) else str(arg).encode()
