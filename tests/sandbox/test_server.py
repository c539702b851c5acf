"""The HTTP server itself: routing, keep-alive under concurrency, chunked bodies, lifecycle, CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tracking_worker.sandbox import DEFAULT_CREDENTIALS, SandboxServer
from tracking_worker.sandbox.cli import main

from .conftest import Post
from .payloads import GRASPIL_HEADERS, GRASPIL_PATH, graspil_item

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_path_is_404_and_recorded_without_provider(
    sandbox: SandboxServer, post: Post
) -> None:
    response = post("/v2/nowhere", {"a": 1})
    assert response.status_code == 404
    [record] = sandbox.requests()
    assert (record["provider"], record["outcome"]) == (None, "unrouted")


def test_a_provider_path_takes_only_post(sandbox: SandboxServer) -> None:
    response = requests.get(sandbox.url + GRASPIL_PATH, timeout=5)
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")


def test_the_query_string_is_recorded_apart(sandbox: SandboxServer, post: Post) -> None:
    post(GRASPIL_PATH + "?debug=1", graspil_item(), GRASPIL_HEADERS)
    [record] = sandbox.requests("graspil")
    assert (record["path"], record["query"]) == (GRASPIL_PATH, "debug=1")


def test_a_chunked_body_is_read_whole(sandbox: SandboxServer, http: requests.Session) -> None:
    data = json.dumps(graspil_item()).encode()
    chunks = iter([data[:10], data[10:]])
    response = http.post(
        sandbox.url + GRASPIL_PATH, data=chunks, headers=GRASPIL_HEADERS, timeout=5
    )
    assert response.status_code == 200
    assert sandbox.received("graspil") == [graspil_item()]


def test_answers_carry_content_length_and_keep_the_connection(
    sandbox: SandboxServer, post: Post
) -> None:
    response = post(GRASPIL_PATH, graspil_item(), GRASPIL_HEADERS)
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers.get("Connection", "keep-alive").lower() != "close"


def test_16_keep_alive_clients_are_all_answered_and_recorded(sandbox: SandboxServer) -> None:
    def client(n: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    sandbox.url + GRASPIL_PATH,
                    json=graspil_item(user_id=n * 1000 + i),
                    headers=GRASPIL_HEADERS,
                    timeout=10,
                ).status_code
                for i in range(50)
            ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [s for result in pool.map(client, range(16)) for s in result]
    assert statuses == [200] * 800
    assert len(sandbox.requests("graspil")) == 800
    user_ids = {item["user_id"] for item in sandbox.received("graspil")}
    assert user_ids == {n * 1000 + i for n in range(16) for i in range(50)}


def test_constructor_overrides_merge_per_provider_without_touching_the_defaults() -> None:
    before = json.dumps(DEFAULT_CREDENTIALS, sort_keys=True)
    with SandboxServer(credentials={"giosg": {"token": "t2"}}) as server:
        assert server.credentials("giosg")["token"] == "t2"
        assert server.credentials("giosg")["goals"] == DEFAULT_CREDENTIALS["giosg"]["goals"]
        server.set_credentials("graspil", api_key="other")
    assert json.dumps(DEFAULT_CREDENTIALS, sort_keys=True) == before


def test_unknown_providers_are_refused(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        SandboxServer(credentials={"segment": {}})
    with pytest.raises(ValueError, match="unknown provider"):
        sandbox.received("segment")


def test_stop_closes_the_listener_and_open_connections() -> None:
    server = SandboxServer().start()
    session = requests.Session()
    assert session.get(server.url + "/_sandbox/health", timeout=5).ok
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "/_sandbox/health", timeout=5)
    session.close()


def test_the_url_names_the_bound_port() -> None:
    server = SandboxServer(port=0)
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_python_m_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tracking_worker.sandbox", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.removeprefix("sandbox listening on ")
        assert requests.get(url + "/_sandbox/health", timeout=5).json() == {"ok": True}
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == "sandbox stopped\n"
    finally:
        process.kill()
        process.wait()


def test_main_reports_a_bad_credentials_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"segment": {}}')
    assert main(["--port", "0", "--credentials", str(path)]) == 1
    assert "unknown provider 'segment'" in capsys.readouterr().err
