"""Django: ``INSTALLED_APPS += ["tracking_worker.contrib.django"]``.

Settings come from ``settings.TRACKING_WORKER`` (the TOML file's sections as a dict, merged over
``TRACKING_CONFIG``/``TRACKING_REDIS_URL`` like ``configure()``), are validated by the system
check framework (``manage.py check`` names a bad key, ``tracking_worker.E001``), and configure
the default tracker, so views just call ``tracking_worker.track()``. Inside
``transaction.atomic()``, on any database, an event is validated at once and enqueued when the
transaction commits, never when it rolls back (with blocks open on several databases: when the
last commits, never if any rolls back; ``on_commit=False`` opts out per call).
``manage.py tracking_status`` prints the status table.
"""

from __future__ import annotations

try:
    import django
except ImportError as exc:  # as sentry-python's integrations: say which extra is missing
    raise ImportError(
        "tracking_worker.contrib.django needs Django: pip install 'tracking-worker[django]'"
    ) from exc

if django.VERSION < (4, 2):  # transaction.on_commit(robust=True)
    raise ImportError(
        f"tracking_worker.contrib.django needs Django 4.2 or later, not {django.get_version()}: "
        "pip install 'tracking-worker[django]'"
    )
