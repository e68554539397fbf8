"""A clock several processes read from shared memory, moved only by the test that drives them.

For scenarios whose actors live in separate processes (the shared token file): the driver sets the time and lets
every actor take one step at that instant (a ``multiprocessing.Barrier`` in, another one out), then moves on. Time
never depends on how fast the processes run, and all actors really run at once inside a step, so their races are
real (file locks, the token endpoint).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["SharedClock"]


class SharedClock:
    """:class:`~exact_online_sdk.clock.Clock` over a ``multiprocessing.Value("d")`` (pass the value to each process).

    ``set`` is for the driver. ``sleep`` waits (polling real time) until the driver has moved time far enough; a
    sleeper that sees no progress for ``stall_timeout`` real seconds raises, so a stuck scenario fails fast.
    """

    def __init__(self, value: Any, *, stall_timeout: float = 60.0) -> None:
        self._value = value
        self.stall_timeout = stall_timeout

    def now(self) -> float:
        return float(self._value.value)

    def set(self, when: float) -> None:
        with self._value.get_lock():
            if when < self._value.value:
                raise ValueError("time does not run backwards")
            self._value.value = when

    def sleep(self, seconds: float) -> None:
        deadline = self.now() + seconds
        seen, since = self.now(), time.monotonic()
        while self.now() < deadline:
            if self.now() != seen:
                seen, since = self.now(), time.monotonic()
            elif time.monotonic() - since > self.stall_timeout:
                raise TimeoutError(f"shared time stood at {seen} for {self.stall_timeout:g} real seconds")
            time.sleep(0.001)  # waiting for the driver, not pacing: the driver decides when time moves

    async def asleep(self, seconds: float) -> None:
        await asyncio.to_thread(self.sleep, seconds)

    def __repr__(self) -> str:
        return f"SharedClock(now={self.now()})"
