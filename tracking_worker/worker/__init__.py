"""Celery wiring: the app, its two tasks, the per-process state, Sentry and log redaction. The
delivery logic lives in ``delivery/``; nothing here is hung on the Celery app."""
