"""``manage.py tracking_status``: what ``tracking-worker status`` shows, for the settings in
``settings.TRACKING_WORKER``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import tracking_worker
from tracking_worker.contrib._status import status_report
from tracking_worker.errors import TrackingError


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = "Per provider: queued, in flight, retrying, delivered, dead, and the circuit state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="the counts as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = tracking_worker.get_tracker().settings
            self.stdout.write(status_report(settings, as_json=options["json"]))
        except TrackingError as exc:  # bad settings, Redis down: one line, exit 1
            raise CommandError(str(exc)) from None
