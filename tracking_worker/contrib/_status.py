"""The status table the framework commands print: the same read (``store.status.collect``) and
the same view as ``tracking-worker status``, for the settings the framework configured."""

from __future__ import annotations

import json

from ..settings import Settings


def status_report(settings: Settings, *, as_json: bool = False) -> str:
    """One read of every provider's counts; raises TrackingError when Redis cannot be read.
    Imported lazily: a web process that never runs the command never loads the views."""
    from ..ops.views import status_text
    from ..store.connection import worker_client
    from ..store.status import collect

    client = worker_client(settings)
    try:
        snapshot = collect(settings, client)
    finally:
        client.close()
    if as_json:
        return json.dumps(snapshot.as_json(), indent=2)
    return status_text(snapshot)
