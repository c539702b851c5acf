"""The smallest Django site that reports purchases with tracking_worker."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = ["tracking_worker.contrib.django", "shop"]
ROOT_URLCONF = "shop_site.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The sections of config/tracking.example.toml as a dict, merged over TRACKING_CONFIG's file
# when that is set. "${VAR}" is read from the environment, so keys stay out of the code;
# `manage.py check` names any bad or missing key (tracking_worker.E001).
TRACKING_WORKER = {
    "redis": {"url": os.environ.get("TRACKING_REDIS_URL", "redis://localhost:6379/0")},
    "providers": {
        "graspil": {"api_key": "${GRASPIL_API_KEY}", "targets": {"purchase": 12}},
    },
}

# Celery (shop_site/celery.py) reads the CELERY_ settings; its broker is tracking_worker's Redis,
# where track() sends the delivery triggers.
CELERY_BROKER_URL = TRACKING_WORKER["redis"]["url"]
