"""``manage.py check``: ``settings.TRACKING_WORKER`` validated as start-up would, with ids.

- ``tracking_worker.E001``: a bad key or value; the message names it (``delivery.flush_interval``,
  ``providers.graspil.api_key``), as ``tracking-worker check`` does for the TOML file.
- ``tracking_worker.E002``: ``TRACKING_WORKER`` is not a dict.
- ``tracking_worker.W001``: no provider configured, so events go nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning

from ...errors import ConfigurationError
from .apps import SETTING, tracking_settings

HINT = "config/tracking.example.toml documents every section and key."
WHERE = f"settings.{SETTING}"


@register("tracking_worker")  # type: ignore[untyped-decorator,misc]
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(django_settings, SETTING, None)
    if raw is not None and not isinstance(raw, Mapping):
        return [
            Error(
                f"Must be a dict of sections, not {type(raw).__name__}.",
                hint=HINT,
                obj=WHERE,
                id="tracking_worker.E002",
            )
        ]
    try:
        loaded = tracking_settings()
    except ConfigurationError as exc:
        return [Error(str(exc), hint=HINT, obj=WHERE, id="tracking_worker.E001")]
    if not loaded.providers:
        return [
            CheckWarning(
                "No provider configured: track() validates events and sends them nowhere.",
                hint="Add a section under 'providers' (graspil, tganalytics, grampixel, "
                "giosg, vibetrace).",
                obj=WHERE,
                id="tracking_worker.W001",
            )
        ]
    return []
