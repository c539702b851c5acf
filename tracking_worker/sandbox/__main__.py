"""Allows ``python -m tracking_worker.sandbox --port 8765``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
