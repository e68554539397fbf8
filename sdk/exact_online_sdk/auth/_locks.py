"""Taking a thread or file lock from a coroutine without blocking the event loop (any loop, any thread)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["apoll_acquire"]


async def apoll_acquire(try_acquire: Callable[[], bool], wait: float) -> bool:
    """Call ``try_acquire`` (non-blocking) until it succeeds or ``wait`` real seconds passed; True when taken.

    Real time on purpose: this waits for another thread's critical section, not for a simulated event."""
    deadline = time.monotonic() + wait
    delay = 0.0005
    while not try_acquire():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True
