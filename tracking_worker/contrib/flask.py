"""Flask: ``TrackingWorker(app)``, or ``ext = TrackingWorker()`` then ``ext.init_app(app)`` in
an app factory.

``app.config["TRACKING_WORKER"]`` (the TOML file's sections as a dict, merged over
``TRACKING_CONFIG``/``TRACKING_REDIS_URL`` like ``configure()``) is validated when the app is
set up, so a bad key stops start-up with a message naming it, and configures the default
tracker: views just call ``tracking_worker.track()``. ``flask tracking status`` prints the
status table. One process, one configuration: the last app set up is the one ``track()`` uses
(each app's own tracker is ``app.extensions["tracking_worker"]``).
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import click
    from flask import Flask, current_app
    from flask.cli import AppGroup
except ImportError as exc:  # as sentry-python's integrations: say which extra is missing
    raise ImportError(
        "tracking_worker.contrib.flask needs Flask: pip install 'tracking-worker[flask]'"
    ) from exc

import tracking_worker

from ..errors import ConfigurationError, TrackingError
from ..producer.tracker import Tracker
from ..settings import load_settings
from ._status import status_report

#: The config key holding the TOML file's sections, and the ``app.extensions`` key.
CONFIG_KEY = "TRACKING_WORKER"
EXTENSION = "tracking_worker"

cli = AppGroup("tracking", help="tracking_worker: what is queued, delivered and dead.")


class TrackingWorker:
    """The Flask extension; holds nothing itself (each app's tracker is in its extensions)."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> Tracker:
        """Validate the app's settings and make them ``track()``'s; raises ConfigurationError
        naming the bad key."""
        raw = app.config.get(CONFIG_KEY) or {}
        if not isinstance(raw, Mapping):
            raise ConfigurationError(
                f"app.config[{CONFIG_KEY!r}] must be a dict of sections "
                "(redis, delivery, producer, observability, providers)"
            )
        tracker = tracking_worker.configure(load_settings(raw))
        app.extensions[EXTENSION] = tracker
        app.cli.add_command(cli)
        return tracker

    @staticmethod
    def tracker(app: Flask | None = None) -> Tracker:
        """The tracker ``init_app`` made for ``app`` (the current app by default)."""
        tracker: Tracker = (app or current_app).extensions[EXTENSION]
        return tracker


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON.")
def status(as_json: bool) -> None:
    """Per provider: queued, in flight, retrying, delivered, dead, and the circuit state."""
    try:
        click.echo(status_report(TrackingWorker.tracker().settings, as_json=as_json))
    except TrackingError as exc:  # Redis down: one line, exit 1
        raise click.ClickException(str(exc)) from None
