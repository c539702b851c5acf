"""TG Analytics ``POST /events``: Mini App events, a JSON array (a single object is accepted too).

Checks run in the order the real API appears to apply them: token, domain (the token is bound
to the Mini App's domain, so ``Origin``/``Referer`` must name it), body schema, then app_name.
One bad item fails the whole array with ``VALIDATION_MISMATCH_REPORT``; the ``errors`` list in it
is ours (``index``, ``property``, ``message``), since the provider documents only the envelope.

Every field is checked against the type the page gives it: ``user_id`` a number, ``session_id``
a UUID, ``auth_type`` the enum's values 0 (ton_addr) or 1 (ton_proof), ``messages`` an array of
``{address: string, amount: string}``, ``custom_data`` an object, the rest strings or booleans.
An optional field may be null (the page's own example sends ``"error_code": null``); a field
the page does not name is let through, as nothing on the page says it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from .base import Emulator, Incoming, Reply
from .checks import is_int, is_nonempty_str, is_number, is_uuid

NO_TOKEN: Final = "The token is not specified in the headers or is specified incorrectly."
BAD_TOKEN: Final = "Token is invalid."
BAD_APP_NAME: Final = "Invalid app_name is specified."
BAD_DOMAIN: Final = "The domain name does not match."
FAILED: Final = "Failed to record"
TOO_MANY: Final = "Too many requests. Try again later."
MISMATCH: Final = "VALIDATION_MISMATCH_REPORT"

Check = Callable[[object], bool]


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_auth_type(value: object) -> bool:
    return is_int(value) and value in (0, 1)


def _is_message(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("address"), str)
        and isinstance(value.get("amount"), str)
    )


def _is_messages(value: object) -> bool:
    return isinstance(value, list) and all(map(_is_message, value))


# (check, what the message says it must be); optional fields may also be null.
_REQUIRED: Final[Mapping[str, tuple[Check, str]]] = {
    "user_id": (is_number, "a number"),
    "event_name": (is_nonempty_str, "a non-empty string"),
    "session_id": (is_uuid, "a UUID"),
    "app_name": (is_nonempty_str, "a non-empty string"),
}
_OPTIONAL: Final[Mapping[str, tuple[Check, str]]] = {
    **{name: (_is_bool, "a boolean") for name in ("is_premium", "is_success")},
    "error_code": (is_number, "a number"),
    "auth_type": (_is_auth_type, "0 (ton_addr) or 1 (ton_proof)"),
    "custom_data": (lambda v: isinstance(v, dict), "an object"),
    "messages": (_is_messages, "an array of {address: string, amount: string}"),
    **{
        name: (_is_str, "a string")
        for name in (
            "error_message",
            "wallet_address",
            "wallet_type",
            "wallet_version",
            "valid_until",
            "from",
            "client_timestamp",
            "platform",
            "locale",
            "start_param",
            "url_referer",
            "scope",
        )
    },
}


def _mismatch(errors: list[dict[str, Any]]) -> Reply:
    return Reply(400, {"status": 400, "message": MISMATCH, "errors": errors})


def _item_errors(index: int, item: object) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return [{"index": index, "property": "event", "message": "event must be an object"}]
    bad = [(n, e) for n, (check, e) in _REQUIRED.items() if not check(item.get(n))]
    bad += [
        (n, e)
        for n, (check, e) in _OPTIONAL.items()
        if item.get(n) is not None and not check(item[n])
    ]
    return [{"index": index, "property": n, "message": f"{n} must be {e}"} for n, e in bad]


def _items(request: Incoming) -> tuple[list[Any], list[dict[str, Any]]]:
    body = request.body
    if request.body_error is not None:
        return [], [{"index": None, "property": "body", "message": request.body_error}]
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        problem = "body must be an array of one or more events"
        return [], [{"index": None, "property": "body", "message": problem}]
    return items, [error for i, item in enumerate(items) for error in _item_errors(i, item)]


def _origin(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _domain_matches(request: Incoming, domain: str) -> bool:
    """Every origin the request names must be the app's, and it must name at least one."""
    origins = {_origin(request.header("Origin")), _origin(request.header("Referer"))} - {None}
    return bool(origins) and origins == {f"https://{domain}".lower()}


class TgAnalytics(Emulator):
    """Emulates tganalytics.xyz's events endpoint."""

    #: Provider name, as in the worker's settings.
    name = "tganalytics"
    #: Second in PROVIDERS.
    order = 20
    #: ``POST /events``, trailing slash optional.
    routes = (r"^/events/?$",)
    #: The token, the app_name it was created for and the Mini App domain it is bound to.
    default_credentials = {
        "token": "sandbox-tga-token",
        "app_name": "sandbox-app",
        "app_domain": "app.example.test",
    }

    def handle(self, request: Incoming, config: Mapping[str, Any]) -> Reply:
        token = (request.header("TGA-Auth-Token") or "").strip()
        if not token:
            return Reply(400, {"message": NO_TOKEN})
        if token != config["token"]:
            return Reply(400, {"message": BAD_TOKEN})
        if not _domain_matches(request, config["app_domain"]):
            return Reply(403, {"message": BAD_DOMAIN})
        items, errors = _items(request)
        if errors:
            return _mismatch(errors)
        if any(item["app_name"] != config["app_name"] for item in items):
            return Reply(400, {"message": BAD_APP_NAME})
        return Reply(201, {"message": "Success record."}, items=list(items))

    def rejection(self, field: str, message: str | None, index: int) -> Reply:
        text = message or f"{field} was rejected"
        return _mismatch([{"index": index, "property": field, "message": text}])

    def documented_body(self, status: int) -> dict[str, Any] | None:
        documented = {400: FAILED, 403: BAD_DOMAIN, 429: TOO_MANY}
        return {"message": documented[status]} if status in documented else None

    def provider_settings(self, base_url: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **{key: credentials[key] for key in ("token", "app_name", "app_domain")},
            "base_url": base_url,
        }
