"""Waits said out loud: the client sleeps for Exact's rate limit or before a retry, and the CLI says so.

A sync that sits silently on "calls 20/20 a minute" for 25 seconds looks frozen. The CLI gives its client an
:class:`AnnouncingClock`: every sleep of a second or more is reported as it starts and each second while it lasts
(the client's own timing is unchanged), with the reason read from the rate-limit book-keeping:
"waiting 25 s for the next minute (limit 60/min)".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..clock import Clock

__all__ = ["AnnouncingClock", "WaitNotices", "wait_reason"]

Listener = Callable[[float | None], None]
"""Called with the seconds left of a wait (at its start and about once a second), and None when it is over."""


class AnnouncingClock:
    """``inner`` time; sleeps of ``threshold`` seconds or more are cut into steps of ``step`` and announced."""

    def __init__(self, inner: Clock, listener: Listener, *, threshold: float = 1.0, step: float = 1.0) -> None:
        self.inner = inner
        self.listener = listener
        self.threshold = threshold
        self.step = step

    def now(self) -> float:
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        if seconds < self.threshold:
            self.inner.sleep(seconds)
            return
        end = self.inner.now() + seconds
        try:
            while (left := end - self.inner.now()) > 0:
                self.listener(left)
                self.inner.sleep(min(self.step, left))
        finally:
            self.listener(None)

    async def asleep(self, seconds: float) -> None:
        if seconds < self.threshold:
            await self.inner.asleep(seconds)
            return
        end = self.inner.now() + seconds
        try:
            while (left := end - self.inner.now()) > 0:
                self.listener(left)
                await self.inner.asleep(min(self.step, left))
        finally:
            self.listener(None)

    def __repr__(self) -> str:
        return f"AnnouncingClock({self.inner!r})"


def wait_reason(limits: Any) -> str:
    """Why the client waits, from a :class:`~exact_online_sdk._core.ratelimit.RateLimitSnapshot` (or None)."""
    limit = getattr(limits, "minutely_limit", None)
    remaining = getattr(limits, "minutely_remaining", None)
    if limit and remaining is not None and remaining <= getattr(limits, "in_flight", 0):
        return f"for the next minute (limit {limit}/min)"
    return "before trying again"


class WaitNotices:
    """Turns a clock's wait reports into text ("waiting 25 s for the next minute (limit 60/min)") for ``show``.

    ``limits`` returns the rate-limit snapshot the reason is read from; it is asked once, when a wait starts, and
    can be set after the client exists. ``show`` receives the text while the wait lasts and None at its end."""

    def __init__(self, show: Callable[[str | None], None], limits: Callable[[], Any] | None = None) -> None:
        self.show = show
        self.limits = limits
        self._reason: str | None = None

    def __call__(self, left: float | None) -> None:
        if left is None:
            self._reason = None
            self.show(None)
            return
        if self._reason is None:
            self._reason = wait_reason(self.limits() if self.limits is not None else None)
        self.show(f"waiting {math.ceil(left)} s {self._reason}")
