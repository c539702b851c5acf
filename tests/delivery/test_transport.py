"""The transport reads the proxy and CA bundle variables once, yet applies them as requests
would: a proxy for hosts NO_PROXY does not exempt, the CA bundle for https."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator

import pytest

from tracking_worker.delivery.transport import Transport
from tracking_worker.providers.base import HttpRequest, HttpResponse


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Answers every request itself and remembers the request line it got."""

    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(self.requestline)
        body = b'{"via":"proxy"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def post(transport: Transport, url: str) -> object:
    return transport.send(HttpRequest("POST", url, {}, {"event": 1}))


def test_a_proxy_from_the_environment_carries_the_requests(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = Transport(max_connections=2, timeout=(2, 5))
    for _ in range(2):  # the second request uses what the first one read
        answer = post(transport, "http://provider.invalid/v1/events")
        assert isinstance(answer, HttpResponse) and answer.text == '{"via":"proxy"}'
    assert _Proxy.seen == ["POST http://provider.invalid/v1/events HTTP/1.1"] * 2


def test_no_proxy_exempts_its_hosts(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = Transport(max_connections=2, timeout=(2, 5))
    answer = post(transport, f"{proxy}/direct")
    assert isinstance(answer, HttpResponse) and answer.status == 200
    assert _Proxy.seen == ["POST /direct HTTP/1.1"]  # sent to it directly, not through a proxy


def test_the_ca_bundle_variable_is_applied_to_https_only(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca-bundle.pem")
    transport = Transport(max_connections=2, timeout=(2, 5))
    with pytest.raises(OSError, match=re.escape("/nonexistent/ca-bundle.pem")):
        post(transport, "https://127.0.0.1:9/v1")
    answer = post(transport, f"{proxy}/plain")  # plain http never reads the bundle
    assert isinstance(answer, HttpResponse) and answer.status == 200
