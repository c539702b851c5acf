"""Testing your own code against tracking_worker, with no Redis and no worker.

A pytest plugin (registered by the ``pytest11`` entry point, so its fixtures are there once
the package is installed): ``tracked`` captures every ``track()``, ``track_many()`` and
``atrack()`` of a test, each event with the request every provider would get;
``tracking_sandbox`` runs the providers' emulated APIs with settings pointed at them, and
``tracked.deliver(tracking_sandbox)`` sends the captured events there through the real
provider code. Outside pytest (a Django ``TestCase``, unittest): ``with capture() as
tracked:`` and ``with sandbox() as tracking_sandbox:``.

Importing this costs nothing more than ``tracking_worker`` itself: the fixtures are defined
only in a process that has imported pytest already (pytest imports itself before any
plugin), and the sandbox and HTTP code load when first used.
"""

from __future__ import annotations

import sys

from .capture import Captured, Tracked, capture, dummy_settings
from .deliver import Delivery, deliver
from .server import TrackingSandbox, sandbox

if "pytest" in sys.modules or "_pytest" in sys.modules:  # pytest is running: cheap to import
    from .fixtures import _tracking_sandbox_server as _tracking_sandbox_server
    from .fixtures import tracked as tracked
    from .fixtures import tracking_sandbox as tracking_sandbox
    from .fixtures import tracking_settings as tracking_settings

__all__ = [
    "Captured",
    "Delivery",
    "Tracked",
    "TrackingSandbox",
    "capture",
    "deliver",
    "dummy_settings",
    "sandbox",
]
