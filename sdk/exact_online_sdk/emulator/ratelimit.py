"""Exact's rate limits per (client id, division): a clock-aligned minute window and a UTC-day window.

Every answered API call gets all six ``X-RateLimit-*`` headers, resets in epoch milliseconds. A call over a limit
is refused with 429 and only the exceeded limit's headers, and does not count. The optional error quota blocks an
(app, division, endpoint) for an hour after too many 400/401/403/404 answers.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from ..clock import Clock
from .config import EmulatorConfig

__all__ = ["ErrorQuota", "RateDecision", "RateLimiter"]


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    headers: dict[str, str]
    exceeded: str | None = None  # "minutely" or "daily"


class RateLimiter:
    """Counts calls per (client id, division) in the current minute and UTC day."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._minute: dict[tuple[str, int], tuple[int, int]] = {}
        self._day: dict[tuple[str, int], tuple[int, int]] = {}

    def take(self, client_id: str, division: int) -> RateDecision:
        """Count one call if both windows allow it."""
        now = self.clock.now()
        minute, day = int(now // 60), int(now // 86400)
        key = (client_id, division)
        cfg = self.config
        with self._lock:
            m_win, m_used = self._minute.get(key, (minute, 0))
            if m_win != minute:
                m_used = 0
            d_win, d_used = self._day.get(key, (day, 0))
            if d_win != day:
                d_used = 0
            daily = {
                "X-RateLimit-Limit": str(cfg.daily_limit),
                "X-RateLimit-Remaining": str(max(cfg.daily_limit - d_used, 0)),
                "X-RateLimit-Reset": str((day + 1) * 86_400_000),
            }
            minutely = {
                "X-RateLimit-Minutely-Limit": str(cfg.minutely_limit),
                "X-RateLimit-Minutely-Remaining": str(max(cfg.minutely_limit - m_used, 0)),
                "X-RateLimit-Minutely-Reset": str((minute + 1) * 60_000),
            }
            if d_used >= cfg.daily_limit:
                return RateDecision(False, daily, "daily")
            if m_used >= cfg.minutely_limit:
                return RateDecision(False, minutely, "minutely")
            self._minute[key] = (minute, m_used + 1)
            self._day[key] = (day, d_used + 1)
        daily["X-RateLimit-Remaining"] = str(cfg.daily_limit - d_used - 1)
        minutely["X-RateLimit-Minutely-Remaining"] = str(cfg.minutely_limit - m_used - 1)
        return RateDecision(True, {**daily, **minutely})


class ErrorQuota:
    """Exact's "10 errors per endpoint per hour" rule (off unless ``config.error_quota`` is set)."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._errors: dict[tuple[str, int, str], deque[float]] = {}
        self._blocked: dict[tuple[str, int, str], float] = {}

    def blocked_until(self, client_id: str, division: int, endpoint: str) -> float | None:
        if self.config.error_quota is None:
            return None
        until = self._blocked.get((client_id, division, endpoint))
        return until if until is not None and until > self.clock.now() else None

    def record(self, client_id: str, division: int, endpoint: str, status: int) -> None:
        limit = self.config.error_quota
        if limit is None or status not in (400, 401, 403, 404):
            return
        now = self.clock.now()
        key = (client_id, division, endpoint)
        with self._lock:
            times = self._errors.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - 3600:
                times.popleft()
            if len(times) > limit:
                previous = self._blocked.get(key)
                # repeat offences extend the block
                start = previous if previous is not None and previous > now else now
                self._blocked[key] = start + self.config.error_block_seconds
                times.clear()
