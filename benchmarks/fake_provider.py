"""A lean provider fake for the benchmarks: asyncio, HTTP/1.1 keep-alive, configurable latency.

It answers what the workers need and nothing more: Graspil's ``POST /v1/send-target`` with
``{"ok": true}`` (counting the items of the array it got) and GramPixel's
``POST /v1/events/custom`` with its documented success body (one event per request). No
validation: the sandbox (``tracking_worker.sandbox``) is the faithful emulator; this one only has
to be fast enough never to be the bottleneck. Latency is a timer per request, so any number of
requests wait at once.

Control (JSON): ``POST /_latency {"seconds": 0.05}``, ``POST /_reset`` (zeroes the counters;
connections opened before it count no more), ``GET /_stats`` with
per-provider ``requests`` and ``events``, the ``time.monotonic()`` of the first and last answer
(CLOCK_MONOTONIC is system-wide, so the driver compares it with its own), and this process's CPU
seconds.

    python benchmarks/fake_provider.py --port 8766
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from typing import Any

GRASPIL_PATHS = (b"/v1/send-target", b"/v1/send-target/")
GRAMPIXEL_PATHS = (
    b"/v1/events/custom",
    b"/v1/events/custom/",
    b"/api/v1/events/custom",
    b"/api/v1/events/custom/",
)
_OK_GRASPIL = b'{"ok": true}'


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


GRASPIL_RESPONSE = _response("200 OK", _OK_GRASPIL)


def grampixel_response() -> bytes:
    """GramPixel's documented success body, with a fresh event id."""
    event_id = uuid.uuid4().hex
    data = {"event_id": f"evt_{event_id}", "session_id": f"gp_{event_id[:12]}"}
    data["status"] = "processed"
    body = json.dumps({"ok": True, "data": data}).encode("ascii")
    return _response("200 OK", body)


class Stats:
    """Counters shared by every connection of the server (one event loop: no locks)."""

    def __init__(self) -> None:
        self.latency = 0.0
        #: Bumped by every reset: connections opened before it no longer count (the answer to
        #: a request of a killed worker, due after the reset, must not land in the next run).
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        self.generation += 1
        self.requests = {"graspil": 0, "grampixel": 0}
        self.events = {"graspil": 0, "grampixel": 0}
        self.first_at: float | None = None
        self.last_at: float | None = None

    def answered(self, provider: str, events: int) -> None:
        now = time.monotonic()
        self.requests[provider] += 1
        self.events[provider] += events
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def snapshot(self) -> dict[str, Any]:
        cpu = os.times()
        return {
            "requests": self.requests,
            "events": self.events,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "latency": self.latency,
            "cpu_seconds": cpu.user + cpu.system,
        }


class Connection(asyncio.Protocol):
    """One keep-alive connection: parses requests with a Content-Length, answers in order."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.generation = stats.generation
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            length = _content_length(head)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self._request(head, body)

    def _request(self, head: bytes, body: bytes) -> None:
        line = head.split(b"\r\n", 1)[0].split(b" ")
        method, path = line[0], line[1].split(b"?", 1)[0] if len(line) > 1 else b"/"
        if path.startswith(b"/_"):
            self._write(self._control(method, path, body))
            return
        if method == b"POST" and path in GRASPIL_PATHS:
            self._later("graspil", _count_items(body), GRASPIL_RESPONSE)
        elif method == b"POST" and path in GRAMPIXEL_PATHS:
            self._later("grampixel", 1, grampixel_response())
        else:
            self._write(_response("404 Not Found", b'{"ok": false, "error": "no such path"}'))

    def _later(self, provider: str, events: int, response: bytes) -> None:
        if self.stats.latency > 0:
            self.loop.call_later(self.stats.latency, self._answer, provider, events, response)
        else:
            self._answer(provider, events, response)

    def _answer(self, provider: str, events: int, response: bytes) -> None:
        if self.transport is None:
            return  # the client hung up while we waited: nothing was delivered
        if self.generation == self.stats.generation:
            self.stats.answered(provider, events)
        self.transport.write(response)

    def _write(self, response: bytes) -> None:
        if self.transport is not None:
            self.transport.write(response)

    def _control(self, method: bytes, path: bytes, body: bytes) -> bytes:
        if method == b"GET" and path == b"/_stats":
            return _response("200 OK", json.dumps(self.stats.snapshot()).encode())
        if method == b"POST" and path == b"/_reset":
            self.stats.reset()
            return _response("200 OK", b'{"ok": true}')
        if method == b"POST" and path == b"/_latency":
            seconds = float(json.loads(body or b"{}").get("seconds", 0.0))
            if not 0.0 <= seconds <= 10.0:
                return _response("400 Bad Request", b'{"ok": false, "error": "0 to 10 s"}')
            self.stats.latency = seconds
            return _response("200 OK", b'{"ok": true}')
        if method == b"GET" and path == b"/_health":
            return _response("200 OK", b'{"ok": true}')
        return _response("404 Not Found", b'{"ok": false, "error": "no such control"}')


def _content_length(head: bytes) -> int:
    """The Content-Length header's value (0 when absent); header names are case-insensitive."""
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    end = lower.find(b"\r\n", start)
    return int(lower[start : end if end >= 0 else len(lower)].strip())


def _count_items(body: bytes) -> int:
    """Events in a Graspil body: its items' ``target_id`` keys, or 1 for a single object.

    Counted, not parsed: ``json.loads`` was half of this process's CPU, which it takes from the
    workers on the same cores (a real provider runs elsewhere). Exact for Graspil bodies: every
    item holds one ``"target_id":`` and a string value cannot (its quotes are escaped)."""
    return body.count(b'"target_id":') or 1


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: Connection(stats), host, port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
