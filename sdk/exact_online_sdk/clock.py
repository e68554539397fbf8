"""Injected time: every timer in this package (token expiry, Exact's 570 s refresh window, rate-limit windows,
backoff sleeps, the refresher and the emulator) reads a :class:`Clock`, so a 30-day scenario can run in seconds.

- :class:`SystemClock`: real time.
- :class:`ScaledClock`: time that runs ``scale`` times faster than real time from a shared origin. Processes built
  with the same ``origin`` and ``real_origin`` agree on the time, so it works across processes too.
- :class:`ManualClock`: time that moves only when told (``advance``); sleeping advances it at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall-clock time in epoch seconds, and sleeping measured on that same clock."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` of this clock's time."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the task for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """Time running ``scale`` times faster than real time; ``origin`` is the clock's time at ``real_origin``."""

    def __init__(self, scale: float, *, origin: float | None = None, real_origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = float(scale)
        self.real_origin = time.time() if real_origin is None else float(real_origin)
        self.origin = self.real_origin if origin is None else float(origin)

    def now(self) -> float:
        return self.origin + (time.time() - self.real_origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale}, origin={self.origin}, real_origin={self.real_origin})"


class ManualClock:
    """Time that moves only by :meth:`advance` (or by sleeping on it). Thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward; returns the new time."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (never backwards)."""
        with self._lock:
            if when < self._now:
                raise ValueError("time does not run backwards")
            self._now = float(when)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"
