"""CPU seconds of process trees, read from /proc (Linux): no dependency."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # gone between listing and reading
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that have not exited (zombies left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in process group ``pgid``, plus what they collected
    from children they reaped (cutime + cstime), so a pool process that exited still counts."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        # After "pid (comm) ": state ppid pgrp ...; utime, stime, cutime, cstime are 11..14.
        if fields is None or int(fields[2]) != pgid:
            continue
        ticks += sum(int(value) for value in fields[11:15])
    return ticks / TICKS


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its threads included)."""
    fields = _stat_fields(str(pid))
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs; idle and iowait excluded)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def self_cpu_seconds() -> float:
    """utime + stime of this process (every thread)."""
    times = os.times()
    return times.user + times.system


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy, sampled over ``seconds`` (this process sleeps)."""
    import time

    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds
