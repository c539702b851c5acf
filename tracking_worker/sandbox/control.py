"""The control API under ``/_sandbox/``: faults, latency, rejections, credentials, records.

JSON in, JSON out. Success answers ``{"ok": true, ...}``; a bad call answers 400
``{"ok": false, "error": "..."}`` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol
from urllib.parse import parse_qs

from .base import Reply
from .checks import parse_json
from .faults import Fault


class ControlApi(Protocol):
    """The part of the sandbox the control API drives (``Sandbox`` implements it)."""

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]: ...
    def received(self, provider: str) -> list[Any]: ...
    def reset(self) -> None: ...
    def add_fault(
        self,
        provider: str,
        status: int,
        body: Any = None,
        *,
        count: int | None = None,
        duration: float | None = None,
        retry_after: int | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault: ...
    def set_latency(self, provider: str, seconds: float) -> None: ...
    def reject_matching(
        self, provider: str, field: str, value: Any, message: str | None = None
    ) -> None: ...
    def set_credentials(self, provider: str, **overrides: Any) -> None: ...
    def credentials(self, provider: str | None = None) -> dict[str, Any]: ...


Params = dict[str, Any]
Endpoint = Callable[[ControlApi, Params], Reply]


def _ok(**fields: Any) -> Reply:
    return Reply(200, {"ok": True, **fields})


def _fields(params: Params, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Params:
    """``params`` checked against the names an endpoint takes, so typos fail loudly."""
    missing = [name for name in required if name not in params]
    unknown = sorted(set(params) - set(required) - set(optional))
    if missing or unknown:
        raise ValueError(f"missing field(s): {missing}; unknown field(s): {unknown}")
    return params


def _faults(api: ControlApi, params: Params) -> Reply:
    optional = ("body", "count", "duration", "retry_after", "headers")
    p = _fields(params, ("provider", "status"), optional)
    fault = api.add_fault(
        p["provider"],
        p["status"],
        p.get("body"),
        count=p.get("count"),
        duration=p.get("duration"),
        retry_after=p.get("retry_after"),
        headers=p.get("headers"),
    )
    return _ok(fault=fault.to_dict())


def _latency(api: ControlApi, params: Params) -> Reply:
    p = _fields(params, ("provider", "seconds"))
    api.set_latency(p["provider"], p["seconds"])
    return _ok()


def _reject(api: ControlApi, params: Params) -> Reply:
    p = _fields(params, ("provider", "field", "value"), ("message",))
    api.reject_matching(p["provider"], p["field"], p["value"], p.get("message"))
    return _ok()


def _set_credentials(api: ControlApi, params: Params) -> Reply:
    overrides = dict(params)
    provider = overrides.pop("provider")
    api.set_credentials(provider, **overrides)
    return _ok(credentials=api.credentials(provider))


def _reset(api: ControlApi, params: Params) -> Reply:
    _fields(params, ())
    api.reset()
    return _ok()


ENDPOINTS: Final[Mapping[tuple[str, str], Endpoint]] = MappingProxyType(
    {
        ("POST", "faults"): _faults,
        ("POST", "latency"): _latency,
        ("POST", "reject"): _reject,
        ("POST", "credentials"): _set_credentials,
        ("POST", "reset"): _reset,
        ("GET", "credentials"): lambda api, p: _ok(credentials=api.credentials(p.get("provider"))),
        ("GET", "requests"): lambda api, p: _ok(requests=api.requests(p.get("provider"))),
        ("GET", "received"): lambda api, p: _ok(received=api.received(p["provider"])),
        ("GET", "health"): lambda api, p: _ok(),
    }
)


def _params(method: str, query: str, raw: bytes) -> Params:
    if method == "GET":
        return {name: values[-1] for name, values in parse_qs(query).items()}
    if not raw.strip():
        return {}
    value, problem = parse_json(raw)
    if problem is not None:
        raise ValueError(problem)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def handle_control(api: ControlApi, method: str, path: str, query: str, raw: bytes) -> Reply:
    """Answer one control request; ``path`` starts with ``/_sandbox``."""
    name = path.removeprefix("/_sandbox").strip("/")
    endpoint = ENDPOINTS.get((method, name))
    if endpoint is None:
        allowed = [m for (m, n) in ENDPOINTS if n == name]
        if allowed:
            return Reply(405, {"ok": False, "error": f"use {' or '.join(allowed)}"})
        return Reply(404, {"ok": False, "error": f"no control endpoint {path}"})
    try:
        return endpoint(api, _params(method, query, raw))
    except KeyError as exc:
        return Reply(400, {"ok": False, "error": f"missing field {exc}"})
    except (ValueError, TypeError) as exc:
        return Reply(400, {"ok": False, "error": str(exc)})
