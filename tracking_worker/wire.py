"""An event's JSON wire form: what Redis holds, the spool writes and workers read back.

**The event id is the first key**: every serialized event starts ``{"event_id":"<id>"``. Code
that finds an event by its id reads only that head, without parsing the JSON: the Lua scripts
(``store/lua/receipts_lib.lua``'s ``event_id``), ``store/receipts.py``'s ``_start_of`` and
``event_id_of`` below. ``Codec`` refuses a class whose first field is not ``ID_KEY``, and
serializes fields in the class's order, so the rule holds by construction.

Empty fields (None, ``{}``) are left out: they are the defaults. Non-ASCII text is kept as is
(Redis stores UTF-8): ``\\u00e9`` escapes would triple the size of non-Latin text, and
``MAX_EVENT_BYTES`` is counted on this very string.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

#: The first key of every serialized event (see the module's docstring).
ID_KEY = "event_id"

T = TypeVar("T")

_DECODE = json.JSONDecoder().raw_decode
#: One encoder, built once: ``json.dumps`` with options builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_HEAD = re.compile(rf'^\{{"{ID_KEY}":"([^"\\]+)"')
#: "Parse it with json.loads" (bytes, surrounding whitespace, an error to report).
_SLOW: Any = object()


def event_id_of(raw: str) -> str | None:
    """The id at the head of a serialized event, as the Lua scripts read it for receipts:
    None for an id holding a quote or a backslash."""
    found = _HEAD.match(raw)
    return found.group(1) if found else None


class Codec(Generic[T]):
    """The wire form of one frozen dataclass (``Event``) whose first field is ``ID_KEY``.

    ``built`` fills the instance's ``__dict__`` directly instead of calling the constructor: a
    frozen dataclass sets each field through ``object.__setattr__``, which cost more than
    parsing the JSON on a worker (once per delivered event) and runs once per tracked event.
    Measured on an event of ten fields (CPython 3.11): the constructor 1.62 µs, this 0.78 µs.
    A non-frozen slotted dataclass would take 0.34 µs, but the event must stay immutable (and
    hashable, with a ``__dict__`` for ``vars``); so the bypass stays, in this one place. It
    needs a class without ``__slots__`` and ``__post_init__``, which ``__init__`` checks.
    """

    def __init__(self, cls: type[T]) -> None:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        if fields[0].name != ID_KEY:
            raise TypeError(f"{cls.__name__}'s first field must be {ID_KEY!r} (see wire.py)")
        if hasattr(cls, "__slots__") or hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__} must have a __dict__ and no __post_init__")
        self.cls = cls
        #: The fields in the class's order: the order of the serialized keys.
        self.order = tuple(f.name for f in fields)
        #: ``cls(**data)``, as fast as the class's docstring says; a missing or unknown field
        #: raises the constructor's own TypeError.
        self.built: Callable[[dict[str, Any]], T] = _builder(cls, fields)
        #: The compact form of an instance's fields (``vars(event)``, or the dict it is built
        #: from), in field order.
        self.dumps: Callable[[Mapping[str, Any]], str] = _dumper(self.order)
        #: Parse a serialized instance; raises ValueError/TypeError/KeyError on a malformed one.
        self.loads: Callable[[str | bytes], T] = _loader(self.built)


def _loader(built: Callable[[dict[str, Any]], T]) -> Callable[[str | bytes], T]:
    """``Codec.loads`` (a closure, as ``_builder`` says why)."""

    def loads(raw: str | bytes) -> T:
        data: Any = _SLOW
        if type(raw) is str:
            # What json.loads does for a plain queued item, without its per-call checks: it
            # runs once per delivered event.
            try:
                data, end = _DECODE(raw)
            except ValueError:
                data = _SLOW
            else:
                if end != len(raw):
                    data = _SLOW
        if data is _SLOW:
            data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("queued item is not a JSON object")
        return built(data)

    return loads


def _dumper(order: tuple[str, ...]) -> Callable[[Mapping[str, Any]], str]:
    """``Codec.dumps`` (a closure, as ``_builder`` says why). Not dataclasses.asdict: it
    deep-copies every nested dict."""

    def dumps(fields: Mapping[str, Any]) -> str:
        get = fields.get  # not `v != {}`: that builds a dict per field, on track()'s path
        return _ENCODE(
            {k: v for k in order if (v := get(k)) is not None and (v or type(v) is not dict)}
        )

    return dumps


def _builder(
    cls: type[T], fields: tuple[dataclasses.Field[Any], ...]
) -> Callable[[dict[str, Any]], T]:
    """``Codec.built``: a closure, since it reads its tables from cells, not attributes (about
    50 ns of each call)."""
    names = frozenset(f.name for f in fields)
    required = frozenset(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    fresh = tuple(
        (f.name, f.default_factory) for f in fields if f.default_factory is not dataclasses.MISSING
    )
    new = object.__new__

    def built(data: dict[str, Any]) -> T:
        if not (required <= data.keys() <= names):
            return cls(**data)
        instance = new(cls)  # type: ignore[call-overload]
        given = instance.__dict__
        given.update(defaults)
        given.update(data)
        if len(given) < len(names):  # a field with a default factory was not given
            for name, factory in fresh:
                if name not in given:
                    given[name] = factory()
        return instance  # type: ignore[no-any-return]

    return built
