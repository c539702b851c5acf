"""Valid requests for each emulated provider, so each test states only what it changes."""

from __future__ import annotations

from typing import Any

from tracking_worker.sandbox import DEFAULT_CREDENTIALS


class _Drop:
    """A field set to DROP is removed from the payload. Its repr is stable, so test ids that
    show it are the same in every pytest-xdist worker."""

    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()

GRASPIL_PATH = "/v1/send-target"
GRASPIL_HEADERS = {"Api-Key": DEFAULT_CREDENTIALS["graspil"]["api_key"]}

TGA_PATH = "/events"
TGA_DOMAIN = DEFAULT_CREDENTIALS["tganalytics"]["app_domain"]
TGA_HEADERS = {
    "TGA-Auth-Token": DEFAULT_CREDENTIALS["tganalytics"]["token"],
    "Origin": f"https://{TGA_DOMAIN}",
    "Referer": f"https://{TGA_DOMAIN}/",
}

GRAMPIXEL_PATH = DEFAULT_CREDENTIALS["grampixel"]["path"]
GRAMPIXEL_HEADERS = {"x-api-key": DEFAULT_CREDENTIALS["grampixel"]["api_key"]}

GIOSG = DEFAULT_CREDENTIALS["giosg"]
GIOSG_ORG = GIOSG["organization_id"]
GIOSG_GOAL = GIOSG["goals"][0]
GIOSG_PATH = f"/api/v5/orgs/{GIOSG_ORG}/goals/{GIOSG_GOAL}/matches"
GIOSG_HEADERS = {"Authorization": f"Token {GIOSG['token']}"}
ROOM = GIOSG["rooms"][0]
GRASPIL_TARGET = DEFAULT_CREDENTIALS["graspil"]["targets"][0]

VIBETRACE_PATH = "/v1/event/"
VIBETRACE_HEADERS = {"Authorization": DEFAULT_CREDENTIALS["vibetrace"]["api_key"]}


def graspil_item(**changes: Any) -> dict[str, Any]:
    item = {
        "target_id": GRASPIL_TARGET,
        "user_id": 5842703839,
        "date": "2024-08-03T20:00:00.123+02:00",
        "value": 10.5,
        "unit": "usd",
    }
    return _changed(item, changes)


def tga_event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_name": "app-init",
        "session_id": "10c574d9-6d2c-4e6d-a141-ce6da141ce6d",
        "user_id": 111111111,
        "app_name": DEFAULT_CREDENTIALS["tganalytics"]["app_name"],
        "is_premium": True,
        "platform": "tdesktop",
        "locale": "en",
        "client_timestamp": "1743503599534",
    }
    return _changed(event, changes)


def grampixel_event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_name": "FTD",
        "telegram_id": 123456789,
        "session_id": "gp_a1b2c3",
        "workspace_id": DEFAULT_CREDENTIALS["grampixel"]["workspace_id"],
        "value": 150.0,
        "currency": "USD",
        "user_data": {"plan": "premium"},
    }
    return _changed(event, changes)


def giosg_match(**changes: Any) -> dict[str, Any]:
    match = {
        "visitor_identity": "customer-12345678",
        "goal_matched_at": "2016-10-10T22:00:49.123Z",
        "goal_value": "123.45",
        "rooms": [ROOM],
    }
    return _changed(match, changes)


def vibetrace_order(order_id: str = "order-1", **user: Any) -> dict[str, Any]:
    return {
        "user": user or {"email": "buyer@example.test"},
        "event": {
            "confirmation": {
                "generic": {"orderId": order_id, "total": 99.5, "currency": "EUR"},
                "items": [{"id": "sku-1", "quantity": 2}],
            }
        },
    }


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; a change to ``DROP`` removes the field."""
    merged = {**base, **changes}
    return {key: value for key, value in merged.items() if value is not DROP}
