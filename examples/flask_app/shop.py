"""The smallest Flask app that reports purchases with tracking_worker.

GRASPIL_API_KEY=... flask --app shop run
flask --app shop tracking status
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

import tracking_worker
from tracking_worker.contrib.flask import TrackingWorker

tracking = TrackingWorker()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    # The sections of config/tracking.example.toml as a dict ("${VAR}" is read from the
    # environment); a bad key stops create_app() with a message naming it.
    app.config["TRACKING_WORKER"] = {
        "redis": {"url": os.environ.get("TRACKING_REDIS_URL", "redis://localhost:6379/0")},
        "providers": {
            "graspil": {"api_key": "${GRASPIL_API_KEY}", "targets": {"purchase": 12}},
        },
    }
    app.config.update(config or {})
    tracking.init_app(app)
    app.add_url_rule("/checkout", view_func=checkout, methods=["POST"])
    return app


def checkout() -> ResponseReturnValue:
    data = request.get_json()
    try:
        event_id = tracking_worker.track(
            "purchase",
            telegram_id=data["telegram_id"],
            value=data["amount"],
            currency=data["currency"],
            order_id=data["order_id"],
        )
    except tracking_worker.ValidationError as exc:  # names each bad field
        return jsonify(errors=exc.errors), 400
    return jsonify(event_id=event_id), 201
