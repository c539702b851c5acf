"""HTTP for one provider: requests' pooled HTTPAdapter with timeouts, no automatic retries.

Retries belong to our own schedule (Redis), never to urllib3, so every attempt is counted.
requests' errors become outcomes here, where they enter: a request with no HTTP answer is a
``Retry``; nothing of requests leaves this module.

Requests go to the adapter as prepared requests, not through a ``Session``: a session's
per-request work (cookie jars, hooks, merging settings, re-reading the proxy variables from
the environment) cost more CPU than urllib3's own, and none of it applies to a provider API.
Redirects are not followed: a provider's 3xx is an answer for it to classify.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from ..outcomes import Retry
from ..providers.base import HttpRequest, HttpResponse

USER_AGENT = "tracking-worker/0.1"
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class Transport:
    """One per provider per worker process; thread-safe for concurrent sends."""

    def __init__(self, *, max_connections: int, timeout: tuple[float, float]) -> None:
        self.timeout = timeout
        self.adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max_connections, max_retries=0, pool_block=True
        )
        self._environment: dict[str, tuple[dict[str, str], Any]] = {}

    def send(self, request: HttpRequest) -> HttpResponse | Retry:
        """The answer, or a Retry when none came (refused, reset, timed out, TLS...)."""
        body = _ENCODE(request.body).encode()
        proxies, verify = self._from_environment(request.url)
        try:
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=request.method,
                url=request.url,
                headers={"User-Agent": USER_AGENT, **request.headers},
                data=body,
            )
            answer = self.adapter.send(
                prepared, timeout=self.timeout, verify=verify, proxies=proxies
            )
            if answer.encoding is None:  # no charset said: UTF-8, not requests' costly guess
                answer.encoding = "utf-8"
            text = answer.text  # read whole here: a connection lost mid-body is a Retry too
        except requests.Timeout as exc:
            return Retry(f"timeout: {type(exc).__name__}")
        except requests.RequestException as exc:
            return Retry(f"connection error: {type(exc).__name__}")
        return HttpResponse(answer.status_code, text, dict(answer.headers), time.time())

    def _from_environment(self, url: str) -> tuple[dict[str, str], Any]:
        """``HTTP(S)_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` exempts the host, and
        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``: what requests itself would apply, read at
        the first request to each host (a worker's environment does not change). A bundle is
        passed for https only: requests stats its path on every request it is given."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._environment.get(origin)
        if found is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if parts.scheme != "https":
                bundle = None
            found = self._environment[origin] = (get_environ_proxies(url), bundle or True)
        return found

    def close(self) -> None:
        self.adapter.close()
