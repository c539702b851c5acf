"""One address in front of a Redis that fails over, as a managed service's endpoint is: a TCP
proxy whose new connections go to the node it points at now. Connections made before a switch
stay with the node they reached (DNS switches the same way), which the clients must notice."""

from __future__ import annotations

import contextlib
import socket
import threading

from tracking_worker.devtools import free_port


class Endpoint:
    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def switch(self, upstream: int) -> None:
        self.upstream = upstream

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Bytes one way until either side closes; then both are closed."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
