"""The transport reads the proxy and CA bundle variables once, yet applies them as requests
would: a proxy for hosts NO_PROXY does not exempt, the CA bundle for https."""

from __future__ import annotations

import gzip
import http.server
import re
import threading
from collections.abc import Iterator

import pytest

from tracking_worker.delivery.transport import Transport
from tracking_worker.outcomes import Retry
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


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local server of ``handler`` for the test's length; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    yield from serve(_Proxy)


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


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers each path its own way, and remembers the headers and body it got."""

    protocol_version = "HTTP/1.1"
    got: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((self.path, dict(self.headers), body))
        if self.path == "/gzip":
            self._answer(200, gzip.compress(b'{"ok":true}'), {"Content-Encoding": "gzip"})
        elif self.path == "/latin":
            self._answer(200, "café".encode("latin-1"), {"Content-Type": "text/plain"})
        elif self.path == "/unknown-charset":
            self._answer(200, "é".encode(), {"Content-Type": "application/json; charset=nope"})
        elif self.path == "/moved":
            self._answer(302, b"", {"Location": "/elsewhere", "X-Twice": "a"}, twice="b")
        elif self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"ok":')  # and the connection closes before the rest
            self.close_connection = True
        else:
            self._answer(200, b'{"ok":true}', {"Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str], twice: str = "") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if twice:
            self.send_header("X-Twice", twice)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[str]:
    _Answers.got = []
    yield from serve(_Answers)


def test_answers_are_read_as_requests_would_read_them(answers: str) -> None:
    transport = Transport(max_connections=2, timeout=(2, 5))
    sent = transport.send(HttpRequest("POST", f"{answers}/ok", {"X-Key": "k"}, {"é": [1, 2.5]}))
    assert isinstance(sent, HttpResponse) and (sent.status, sent.json()) == (200, {"ok": True})
    [(_, headers, body)] = _Answers.got
    assert body == b'{"\\u00e9":[1,2.5]}' and headers["Content-Length"] == str(len(body))
    assert headers["X-Key"] == "k" and headers["User-Agent"].startswith("tracking-worker/")
    gzipped = post(transport, f"{answers}/gzip")
    assert isinstance(gzipped, HttpResponse) and gzipped.text == '{"ok":true}'
    latin = post(transport, f"{answers}/latin")  # text/* without a charset: ISO-8859-1
    assert isinstance(latin, HttpResponse) and latin.text == "café"
    unknown = post(transport, f"{answers}/unknown-charset")
    assert isinstance(unknown, HttpResponse) and unknown.text == "é"
    moved = post(transport, f"{answers}/moved")  # a redirect is an answer, not followed
    assert isinstance(moved, HttpResponse) and moved.status == 302
    assert moved.headers["Location"] == "/elsewhere" and moved.headers["X-Twice"] == "a, b"
    assert [path for path, _, _ in _Answers.got][-1] == "/moved"
    cut = post(transport, f"{answers}/cut")  # the body ends early: no answer, a retry
    assert isinstance(cut, Retry) and cut.reason.startswith("connection error")
    again = post(transport, f"{answers}/ok")  # the pool recovers
    assert isinstance(again, HttpResponse) and again.status == 200


def test_a_url_is_sent_as_requests_prepares_it(answers: str) -> None:
    transport = Transport(max_connections=2, timeout=(2, 5))
    answer = post(transport, f"{answers}/goals/a b/matches?x=1")
    assert isinstance(answer, HttpResponse) and answer.status == 200
    assert _Answers.got[0][0] == "/goals/a%20b/matches?x=1"
    refused = post(transport, "http://:80/no-host")  # a URL requests refuses is no answer either
    assert isinstance(refused, Retry) and refused.reason.startswith("connection error")
