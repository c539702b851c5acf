"""HTTP for one provider: a pooled requests Session with timeouts, no automatic retries.

Retries belong to our own schedule (Redis), never to urllib3, so every attempt is counted.
requests' errors become outcomes here, where they enter: a request with no HTTP answer is a
``Retry``; nothing of requests leaves this module.
"""

from __future__ import annotations

import json
import time

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from ..outcomes import Retry
from ..providers.base import HttpRequest, HttpResponse

USER_AGENT = "tracking-worker/0.1"


class _HeadersOnly(AuthBase):
    """Provider credentials travel in each request's own headers or body. Set as the
    session's auth, it also spares every request requests' ``~/.netrc`` lookup (file system
    calls per request, a few percent of a worker's CPU)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class Transport:
    """One per provider per worker process; thread-safe for concurrent sends."""

    def __init__(self, *, max_connections: int, timeout: tuple[float, float]) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max_connections, max_retries=0, pool_block=True
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.auth = _HeadersOnly()

    def send(self, request: HttpRequest) -> HttpResponse | Retry:
        """The answer, or a Retry when none came (refused, reset, timed out, TLS...)."""
        body = json.dumps(request.body, separators=(",", ":"), allow_nan=False)
        try:
            answer = self.session.request(
                request.method,
                request.url,
                data=body.encode(),
                headers=dict(request.headers),
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            return Retry(f"timeout: {type(exc).__name__}")
        except requests.RequestException as exc:
            return Retry(f"connection error: {type(exc).__name__}")
        if answer.encoding is None:  # no charset said: UTF-8, not requests' costly guess
            answer.encoding = "utf-8"
        return HttpResponse(answer.status_code, answer.text, dict(answer.headers), time.time())

    def close(self) -> None:
        self.session.close()
