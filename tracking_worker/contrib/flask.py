"""Flask: ``TrackingWorker(app)``, or ``ext = TrackingWorker()`` then ``ext.init_app(app)`` in
an app factory.

``app.config["TRACKING_WORKER"]`` (the TOML file's sections as a dict, merged over
``TRACKING_CONFIG``/``TRACKING_REDIS_URL`` like ``configure()``) is validated when the app is
set up, so a bad key stops start-up with a message naming it; views just call
``tracking_worker.track()``. Each app has its own tracker (``app.extensions["tracking_worker"]``)
and ``track()`` in an app's context (a request, a CLI command, ``with app.app_context()``) uses
that app's, so two apps in one process keep their events apart. Outside any app context it uses
the process default: the settings of the last app set up, unless ``configure()`` came after.
``flask tracking status`` prints the status table.
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import click
    from flask import Flask, current_app, has_app_context
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
    """The Flask extension; holds nothing itself (each app's tracker is in its extensions, and
    the core finds it there through ``tracking_worker.set_lookup``)."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> Tracker:
        """Validate the app's settings and give the app its tracker, the one ``track()`` uses in
        its context, and the process default's settings; raises ConfigurationError naming the
        bad key."""
        raw = app.config.get(CONFIG_KEY) or {}
        if not isinstance(raw, Mapping):
            raise ConfigurationError(
                f"app.config[{CONFIG_KEY!r}] must be a dict of sections "
                "(redis, delivery, producer, observability, providers)"
            )
        settings = load_settings(raw)
        app.extensions[EXTENSION] = tracker = Tracker(settings)
        # The default is a tracker of its own: configure() would close it when another app or
        # configure() replaces it, and this one stays the app's.
        tracking_worker.use_settings(lambda: settings)
        tracking_worker.set_lookup(_app_tracker)
        app.cli.add_command(cli)
        return tracker

    @staticmethod
    def tracker(app: Flask | None = None) -> Tracker:
        """The tracker ``init_app`` made for ``app`` (the current app by default)."""
        tracker: Tracker = (app or current_app).extensions[EXTENSION]
        return tracker


def _app_tracker() -> Tracker | None:
    """The current app's tracker; None outside an app context, or in an app never set up."""
    if not has_app_context():
        return None
    tracker: Tracker | None = current_app.extensions.get(EXTENSION)
    return tracker


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON.")
def status(as_json: bool) -> None:
    """Per provider: queued, in flight, retrying, delivered, dead, and the circuit state."""
    try:
        click.echo(status_report(TrackingWorker.tracker().settings, as_json=as_json))
    except TrackingError as exc:  # Redis down: one line, exit 1
        raise click.ClickException(str(exc)) from None
