"""The site's Celery app, as the README's recipe has it: Django's settings (the ``CELERY_``
ones) configure Celery, and ``install()`` adds tracking_worker's delivery, reading the same
``settings.TRACKING_WORKER`` the views' ``track()`` uses.

    celery -A shop_site worker --loglevel=INFO
    celery -A shop_site beat --loglevel=INFO
"""

from __future__ import annotations

import os

from celery import Celery

import tracking_worker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_site.settings")

app = Celery("shop_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
tracking_worker.install(app)
