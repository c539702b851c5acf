"""Who sent a request: the client's address and, on request, the local process holding it.

Several workers on one machine send the same requests; a test that must tell them apart (which
one sent an event twice) asks the sandbox, not the workers, which add nothing to their requests
for it. On Linux the client's end of a loopback connection is a socket in ``/proc/net/tcp``,
and ``/proc/<pid>/fd`` names the process holding it. Elsewhere, for a client on another
machine, or one that has already closed its end, the process is unknown (None).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class Client:
    """The sender of a connection's requests, as records show it."""

    #: ``host:port`` of the client's end.
    address: str
    #: The local process holding that end, when it was looked for and found.
    pid: int | None = None


def identify(
    client: tuple[Any, ...], server: tuple[Any, ...], *, find_pid: bool, proc: Path = PROC
) -> Client:
    """The client of a connection from ``client`` to ``server`` (socket addresses, as
    ``getpeername``/``getsockname`` give them); ``find_pid`` looks for the process too (a scan
    of ``/proc``: done once per connection, only when asked for)."""
    host, port = str(client[0]), int(client[1])
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not find_pid:
        return Client(address)
    inode = _socket_inode((host, port), (str(server[0]), int(server[1])), proc)
    return Client(address, None if inode is None else _holder(inode, proc))


def _proc_address(host: str, port: int) -> str:
    """An address as ``/proc/net/tcp{,6}`` prints it: each 32-bit word of the address as the
    kernel holds it (host byte order) in hex, a colon, the port in hex."""
    packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


def _socket_inode(client: tuple[str, int], server: tuple[str, int], proc: Path) -> int | None:
    """The inode of the client's socket: the line whose local end is ``client`` and remote end
    ``server`` (inode 0 is a socket no process holds any more, as in TIME_WAIT)."""
    table = proc / "net" / ("tcp6" if ":" in client[0] else "tcp")
    try:
        local, remote = _proc_address(*client), _proc_address(*server)
        lines = table.read_text(encoding="ascii").splitlines()[1:]
    except (OSError, ValueError):  # no /proc (not Linux), or not an IP address
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1] == local and fields[2] == remote:
            return int(fields[9]) or None
    return None


def _holder(inode: int, proc: Path) -> int | None:
    """The process with a descriptor on socket ``inode``, or None."""
    target = f"socket:[{inode}]"
    for entry in os.scandir(proc):
        if entry.name.isdigit() and _holds(os.path.join(entry.path, "fd"), target):
            return int(entry.name)
    return None


def _holds(fds: str, target: str) -> bool:
    """Whether a descriptor in the directory ``fds`` links to ``target``. A process this user
    may not inspect, or one that exits during the scan, holds nothing; a descriptor closed
    during the scan is passed over."""
    try:
        with os.scandir(fds) as entries:
            for fd in entries:
                try:
                    if os.readlink(fd.path) == target:
                        return True
                except OSError:
                    continue
    except OSError:
        return False
    return False
