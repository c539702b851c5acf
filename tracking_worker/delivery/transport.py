"""HTTP for one provider: requests' pooled HTTPAdapter with timeouts, no automatic retries.

Retries belong to our own schedule (Redis), never to urllib3, so every attempt is counted.
Errors become outcomes here, where they enter: a request with no HTTP answer is a ``Retry``;
nothing of requests or urllib3 leaves this module.

requests decides, once per URL, what it would decide for every request: the URL as it prepares
it, the proxy the environment names for it (``HTTP(S)_PROXY``, ``NO_PROXY``), the CA bundle
(``REQUESTS_CA_BUNDLE``), the connection pool and the form of the request target. Each request
then goes to that pool's ``urlopen`` as requests' adapter sends it, without the per-request
layers that cost more CPU than urllib3's own work and do nothing for a provider API: a
``Session``'s cookie jars, hooks and settings merges, a ``PreparedRequest`` and a ``Response``
per request. Redirects are not followed: a provider's 3xx is an answer for it to classify.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import get_encoding_from_headers, get_environ_proxies

from ..outcomes import Retry
from ..providers.base import HttpRequest, HttpResponse

USER_AGENT = "tracking-worker/0.1"
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
#: URLs remembered per transport: a provider's requests go to a handful (one per configured
#: goal at most); anything beyond is looked up again rather than kept without bound.
MOST_ROUTES = 256


@dataclass(frozen=True)
class _Route:
    """What requests decides for one URL, as it would decide it for every request."""

    #: A prepared request of the URL: what the adapter reads to find the pool (its ``url``).
    prototype: requests.PreparedRequest
    #: The request target: the path, or the whole URL for plain http through a proxy.
    target: str
    verify: Any
    proxies: dict[str, str]


class Transport:
    """One per provider per worker process; thread-safe for concurrent sends."""

    def __init__(self, *, max_connections: int, timeout: tuple[float, float]) -> None:
        self.timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        self.adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max_connections, max_retries=0, pool_block=True
        )
        self._routes: dict[str, _Route] = {}

    def send(self, request: HttpRequest) -> HttpResponse | Retry:
        """The answer, or a Retry when none came (refused, reset, timed out, TLS...)."""
        body = _ENCODE(request.body).encode()
        headers = {"User-Agent": USER_AGENT, **request.headers, "Content-Length": str(len(body))}
        try:
            # A missing CA bundle raises OSError: configuration, not the network (as requests).
            route = self._route(request.url)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            return Retry(f"connection error: {type(exc).__name__}")  # a URL requests refuses
        try:
            # Looked up per request, not kept in the route: the adapter's pool manager may have
            # closed and replaced the pool since (it keeps one per host).
            pool: Any = self.adapter.get_connection_with_tls_context(
                route.prototype, route.verify, proxies=route.proxies
            )
            answer = pool.urlopen(
                request.method,
                route.target,
                body=body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                retries=False,  # the error itself, not a MaxRetryError around it
                timeout=self.timeout,
                preload_content=True,  # read whole here: a connection lost mid-body is a Retry
                decode_content=True,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # a ConnectTimeoutError subclass
            return Retry(f"connection error: {type(exc).__name__}")
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            return Retry(f"timeout: {type(exc).__name__}")
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            return Retry(f"connection error: {type(exc).__name__}")
        return HttpResponse(answer.status, _text(answer), dict(answer.headers), time.time())

    def _route(self, url: str) -> _Route:
        """requests' decisions for ``url``, made at its first request (a worker's environment
        does not change): the ``HTTP(S)_PROXY``/``ALL_PROXY`` proxy unless ``NO_PROXY``
        exempts the host, and for https the ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` bundle,
        checked here as requests checks it (OSError when it is missing)."""
        found = self._routes.get(url)
        if found is not None:
            return found
        prototype = requests.PreparedRequest()
        prototype.prepare(method="POST", url=url)
        https = urlsplit(prototype.url).scheme == "https"
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        verify = (bundle or True) if https else True
        proxies = get_environ_proxies(url)
        pool = self.adapter.get_connection_with_tls_context(prototype, verify, proxies=proxies)
        self.adapter.cert_verify(pool, prototype.url, verify, None)  # type: ignore[no-untyped-call]
        route = _Route(prototype, self.adapter.request_url(prototype, proxies), verify, proxies)
        if len(self._routes) >= MOST_ROUTES:
            self._routes.clear()
        self._routes[url] = route
        return route

    def close(self) -> None:
        self.adapter.close()


def _text(answer: Any) -> str:
    """The body as text, decoded as requests' ``Response.text`` decodes it when the headers
    name a charset; UTF-8 when they name none (not requests' costly guess)."""
    encoding = get_encoding_from_headers(answer.headers) or "utf-8"
    try:
        return str(answer.data, encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        return str(answer.data, "utf-8", errors="replace")
