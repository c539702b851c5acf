"""Configuring the default tracker from ``settings.TRACKING_WORKER`` when Django starts."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.signals import setting_changed

import tracking_worker

from ...errors import ConfigurationError
from ...settings import Settings, load_settings
from .transactions import defer_until_commit

#: The Django setting holding the TOML file's sections.
SETTING = "TRACKING_WORKER"


def tracking_settings() -> Settings:
    """``settings.TRACKING_WORKER`` merged over the environment's, validated. Raises
    ConfigurationError naming the bad key (the system check reports the same message)."""
    raw = getattr(django_settings, SETTING, None) or {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"settings.{SETTING} must be a dict of sections "
            "(redis, delivery, producer, observability, providers)"
        )
    return load_settings(raw)


class TrackingWorkerConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    name = "tracking_worker.contrib.django"
    label = "tracking_worker"
    verbose_name = "tracking_worker"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks

        # The default tracker comes from Django's settings, never from the environment alone:
        # when they are bad, the check names the key and track() raises the same error.
        tracking_worker.use_settings(tracking_settings)
        tracking_worker.set_deferral(defer_until_commit)
        setting_changed.connect(_reconfigure, dispatch_uid="tracking_worker.contrib.django")
        with contextlib.suppress(ConfigurationError):  # reported by `manage.py check`
            tracking_worker.get_tracker()  # built at start-up, not in the first request


def _reconfigure(setting: str, **_: Any) -> None:
    """``override_settings(TRACKING_WORKER=...)`` in tests: the next track() uses it."""
    if setting == SETTING:
        tracking_worker.use_settings(tracking_settings)
