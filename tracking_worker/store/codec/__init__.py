"""The Python side of the Lua scripts' contract: each script's KEYS and ARGV by name, and the
two forms a claimed batch's events take.

One frozen dataclass per script of ``store/lua/``: its fields are the script's ARGV in order,
``KEYS`` its keys in order (by ``Keys`` attribute). Each script opens with locals of the same
names (tests/store/test_codec.py holds the two together). ``args()`` builds a call's ARGV and
``parse`` reads one back, from Python values or from the text Lua sees. Variable-length tails
(enqueue's and replay's pairs, settle's histogram and dead letters) follow the named fields and
are encoded and parsed here too. ``layout`` holds the base, ``batch`` the scripts that move
events and batches, ``control`` those that guard a provider (circuit, rate, runs, worker nodes,
the tick), ``erasure`` those that remove a person's events.
"""

from __future__ import annotations

from .batch import (
    EVENT_ARGS,
    JSON,
    LINES,
    Claim,
    Claimed,
    DeadEntry,
    DeadTrim,
    Enqueue,
    Reap,
    Renew,
    Replay,
    Settle,
    batch_events,
    batch_key,
    claimed,
    enqueue_args,
    id_key,
    new_batch,
)
from .control import (
    CircuitAllow,
    CircuitRecord,
    CircuitRelease,
    CircuitReset,
    Due,
    NodeBeat,
    RateTake,
    RouteResume,
    RunSlot,
    Suppress,
    Tick,
)
from .erasure import ForgetBatches, ForgetDead, ForgetGuard, ForgetList
from .layout import Arg, Layout, _fixed

#: Every script's layout, by script name (each class above is one).
LAYOUTS: dict[str, type[Layout]] = {cls.SCRIPT: cls for cls in Layout.__subclasses__()}
for _layout in LAYOUTS.values():
    _layout.FIXED = _fixed(_layout)

__all__ = [
    "EVENT_ARGS",
    "JSON",
    "LAYOUTS",
    "LINES",
    "Arg",
    "CircuitAllow",
    "CircuitRecord",
    "CircuitRelease",
    "CircuitReset",
    "Claim",
    "Claimed",
    "DeadEntry",
    "DeadTrim",
    "Due",
    "Enqueue",
    "ForgetBatches",
    "ForgetDead",
    "ForgetGuard",
    "ForgetList",
    "Layout",
    "NodeBeat",
    "RateTake",
    "Reap",
    "Renew",
    "Replay",
    "RouteResume",
    "RunSlot",
    "Settle",
    "Suppress",
    "Tick",
    "batch_events",
    "batch_key",
    "claimed",
    "enqueue_args",
    "id_key",
    "new_batch",
]
