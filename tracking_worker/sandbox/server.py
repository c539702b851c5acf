"""The sandbox served over real HTTP/1.1 with keep-alive, one thread per connection."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .app import Sandbox
from .base import Reply
from .peers import Client, identify

logger = logging.getLogger(__name__)


def _json(body: Any) -> bytes:
    return json.dumps(body).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    """Reads a whole request, lets the sandbox answer it, writes the answer with a length."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        #: Who sends this connection's requests, found at its first one (see ``_client``).
        self.sender: Client | None = None

    def _client(self) -> Client:
        """This connection's client, looked up once: while a request waits for its answer,
        the client still holds its end."""
        if self.sender is None:
            self.sender = identify(
                self.client_address,
                self.connection.getsockname(),
                find_pid=self.server.identify_clients,
            )
        return self.sender

    def _dispatch(self) -> None:
        try:
            raw = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            reply = Reply(400, {"error": f"cannot read the request body: {exc}"})
            self._write(reply, _json(reply.body))
            return
        reply, data = self._answer(raw)
        if reply.status == 0:
            self.close_connection = True  # a simulated reset: no answer at all
            return
        self._write(reply, data)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _answer(self, raw: bytes) -> tuple[Reply, bytes]:
        """The sandbox's answer and its encoded body; a failure in the sandbox answers 500 rather
        than dropping the connection, which a client would take for a network fault."""
        try:
            reply = self.server.sandbox.handle(
                self.command, self.path, dict(self.headers), raw, client=self._client()
            )
            return reply, _json(reply.body)
        except Exception:  # logged with its traceback, answered 500
            logger.exception("sandbox failed answering %s %s", self.command, self.path)
            reply = Reply(500, {"error": "sandbox internal error (logged)"})
            return reply, _json(reply.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _write(self, reply: Reply, data: bytes) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per request on stderr drowns test and demo output."""


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can close idle keep-alive ones too."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], sandbox: Sandbox, *, identify_clients: bool = False
    ) -> None:
        self.sandbox = sandbox
        self.identify_clients = identify_clients
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("connection already closed", exc_info=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is routine for a test server; anything else is a bug.
        if isinstance(sys.exc_info()[1], OSError):
            logger.debug("connection from %s failed", client_address, exc_info=True)
        else:
            logger.exception("sandbox failed serving %s", client_address)


class SandboxServer(Sandbox):
    """A ``Sandbox`` listening on ``host:port`` (port 0: any free port, see ``url``).

    Bound at construction; ``start()`` serves from a daemon thread, ``serve_forever()`` from
    the calling one. Use as a context manager to start and stop around a block.

    Every record names its client's address (``client``). With ``identify_clients`` it also
    names the local process that sent it (``client_pid``, None when it cannot be told; Linux
    only), so a test running several workers can tell which one sent a request. That costs a
    scan of ``/proc`` per new connection, so it is off unless asked for.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        max_records: int = 100_000,
        identify_clients: bool = False,
    ) -> None:
        super().__init__(credentials, max_records=max_records)
        self._httpd = _HTTPServer((host, port), self, identify_clients=identify_clients)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to give every provider, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve from a daemon thread; returns self so ``SandboxServer().start()`` reads well."""
        if self._thread is None:
            self._serving = True
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until ``stop()`` (from another thread) or Ctrl-C."""
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=0.05)
        finally:
            self._serving = False
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving, close open connections and cut short any injected latency."""
        self._stopping.set()
        if self._serving:
            self._httpd.shutdown()
            self._serving = False
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
