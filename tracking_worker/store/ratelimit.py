"""A provider's optional request rate limit, shared by every worker process through Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..keys import Keys
from . import codec
from .lua_scripts import Scripts


class RateLimiter:
    """Token bucket of ``rate`` requests per second with a burst of one second's worth."""

    def __init__(
        self,
        client: Any,
        scripts: Scripts,
        keys: Keys,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.keys = keys
        self.rate = rate
        self.burst = max(1.0, rate)
        self.sleep = sleep

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        waited = 0.0
        call = codec.RateTake(rate=self.rate, burst=self.burst)
        while True:
            wait = float(self.scripts.call(self.client, call, self.keys))
            if wait <= 0:
                return waited
            wait = max(wait, 0.001)
            self.sleep(wait)
            waited += wait
