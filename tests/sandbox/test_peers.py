"""Which client sent a request: its address always, and on request the local process holding
its end of the connection (so a test running several workers can tell them apart)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap

from tracking_worker.sandbox import SandboxServer

from .payloads import GRASPIL_HEADERS, GRASPIL_PATH, graspil_item


def post_from_here(server: SandboxServer) -> str:
    """One request over a fresh connection; returns the client's ``host:port``."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("POST", GRASPIL_PATH, json.dumps(graspil_item()), GRASPIL_HEADERS)
        assert conn.getresponse().read()
        host, port = conn.sock.getsockname()[:2]
        return f"{host}:{port}"
    finally:
        conn.close()


def test_records_name_the_client_and_only_on_request_its_process() -> None:
    with SandboxServer() as plain:
        address = post_from_here(plain)
        [record] = plain.requests("graspil")
    assert (record["client"], record["client_pid"]) == (address, None)
    with SandboxServer(identify_clients=True) as named:
        address = post_from_here(named)
        [record] = named.requests("graspil")
    assert (record["client"], record["client_pid"]) == (address, os.getpid())


def test_a_request_from_another_process_names_that_process() -> None:
    script = textwrap.dedent(
        """
        import http.client, json, sys
        conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=5)
        conn.request("POST", sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
        conn.getresponse().read()
        """
    )
    with SandboxServer(identify_clients=True) as named:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                named.host,
                str(named.port),
                GRASPIL_PATH,
                json.dumps(graspil_item()),
                json.dumps(GRASPIL_HEADERS),
            ]
        )
        assert child.wait(timeout=30) == 0
        [record] = named.requests("graspil")
    assert record["client_pid"] == child.pid != os.getpid()
