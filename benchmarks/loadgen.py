"""How fast a provider emulator answers on its own: keep-alive connections, one request in flight
on each, for a fixed time; the server's CPU share says whether it or this client was the limit."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracking_worker.sandbox import DEFAULT_CREDENTIALS


@dataclass
class LoadResult:
    requests: int
    events: int
    seconds: float
    #: CPU seconds the server used per wall second (1.0: one core fully busy).
    server_cores: float
    errors: int

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "requests_per_second": round(self.requests_per_second, 1),
            "events_per_second": round(self.events_per_second, 1),
            "server_cores": round(self.server_cores, 3),
            "errors": self.errors,
        }


def _request(path: str, headers: dict[str, str], body: Any, host: str) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def grampixel_request(host: str) -> tuple[bytes, int]:
    """One valid GramPixel event (the sandbox's default credentials); 1 event."""
    creds = DEFAULT_CREDENTIALS["grampixel"]
    body = {
        "event_name": "Purchase",
        "telegram_id": 5842703839,
        "workspace_id": creds["workspace_id"],
        "value": 5.0,
        "currency": "USD",
    }
    return _request("/v1/events/custom", {"x-api-key": creds["api_key"]}, body, host), 1


def graspil_request(host: str, size: int = 100) -> tuple[bytes, int]:
    """One valid Graspil batch of ``size`` events (the sandbox's default key)."""
    body = [
        {
            "target_id": 12,
            "user_id": 10_000 + i,
            "date": "2024-08-03T20:00:00.123+00:00",
            "value": 5.0,
            "unit": "USD",
        }
        for i in range(size)
    ]
    headers = {"Api-Key": DEFAULT_CREDENTIALS["graspil"]["api_key"]}
    return _request("/v1/send-target", headers, body, host), size


class _Client(asyncio.Protocol):
    """Sends the request again as soon as the whole answer is in."""

    def __init__(
        self, request: bytes, deadline: float, counts: list[int], done: asyncio.Future[None]
    ) -> None:
        self.request = request
        self.deadline = deadline
        self.counts = counts  # [answers, errors]
        self.done = done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"content-length:") + len(b"content-length:")
        stop = head.find(b"\r\n", start)
        length = int(head[start : stop if stop >= 0 else len(head)].strip())
        if len(self.buffer) < end + 4 + length:
            return
        ok = head.startswith(b"http/1.1 2")
        del self.buffer[: end + 4 + length]
        self.counts[0 if ok else 1] += 1
        if time.monotonic() < self.deadline and self.transport is not None:
            self.transport.write(self.request)
        else:
            self.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    def finish(self) -> None:
        if self.transport is not None:
            transport, self.transport = self.transport, None
            transport.close()
            if not self.done.done():
                self.done.set_result(None)


async def _run(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    counts = [0, 0]
    deadline = time.monotonic() + seconds
    waits: list[asyncio.Future[None]] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(
            functools.partial(_Client, request, deadline, counts, done), host, port
        )
        waits.append(done)
    await asyncio.gather(*waits)
    return counts[0], counts[1]


def measure(
    host: str,
    port: int,
    make: Callable[[str], tuple[bytes, int]],
    *,
    server_cpu: Callable[[], float],
    connections: int = 32,
    seconds: float = 2.0,
) -> LoadResult:
    """Hammer ``host:port`` with ``make``'s request for ``seconds``."""
    request, events = make(f"{host}:{port}")
    cpu_before = server_cpu()
    started = time.monotonic()
    answered, errors = asyncio.run(_run(host, port, request, connections, seconds))
    elapsed = time.monotonic() - started
    cores = (server_cpu() - cpu_before) / elapsed
    return LoadResult(answered, answered * events, elapsed, cores, errors)
