"""``python -m tracking_worker.cli``: the same as the ``tracking-worker`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
