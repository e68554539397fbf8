"""Everything one running emulator knows: config, clock, data, OAuth, rate limits, faults, webhooks, counters."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, deque
from typing import Any

from .config import EmulatorConfig
from .faults import FaultBook
from .oauth import OAuthServer
from .ratelimit import ErrorQuota, RateLimiter
from .store import Store
from .webhooks import WebhookDispatcher

__all__ = ["EmulatorState"]


class EmulatorState:
    """Shared by the ASGI app and the Python control handle."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = self.config.make_clock()
        self.counters: Counter[str] = Counter()
        self.calls: Counter[tuple[str, int]] = Counter()
        self.user_id = str(uuid.UUID(int=(self.config.seed * 0x9E3779B97F4A7C15) % (1 << 122) | (4 << 76)))
        self.store = Store(self.config, user_id=self.user_id)
        self.oauth = OAuthServer(self.config, self.clock, self.counters)
        self.limiter = RateLimiter(self.config, self.clock)
        self.errors = ErrorQuota(self.config, self.clock)
        self.faults = FaultBook()
        self.webhooks = WebhookDispatcher(self.config, self.clock, self.counters)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_size)
        self._log_lock = threading.Lock()

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self.request_log.append(entry)

    def snapshot_counters(self) -> dict[str, Any]:
        """Counters as plain data (JSON-ready)."""
        return {
            **dict(self.counters),
            "calls": {f"{c}/{d}": n for (c, d), n in self.calls.items()},
        }

    def close(self) -> None:
        self.webhooks.close()
