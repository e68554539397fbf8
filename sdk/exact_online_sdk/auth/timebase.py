"""One time base for the token chain: Exact's clock, as its ``Date`` header tells it.

Exact counts its 570 s refresh rule and the 600 s token life on its own clock. A process whose clock runs 40 s
behind Exact's would refresh after the token expired and hand out expired tokens (issue 12, defect 6), so every
timing decision of the chain (issue time, due time, expiry) is made on :class:`ServerClock`: the local clock plus
the offset measured on every answer from Exact. A process that has not talked to Exact yet (a worker, a cold
refresher) adopts the offset its writer stored with the token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ..clock import Clock, SystemClock

__all__ = ["MAX_PLAUSIBLE_OFFSET", "ServerClock", "as_server_clock", "server_date"]

log = logging.getLogger("exact_online_sdk.auth.timebase")

MAX_PLAUSIBLE_OFFSET = 6 * 3600.0
"""A ``Date`` further than this from the local clock is ignored (a stale proxy header, a broken clock)."""


def server_date(headers: Mapping[str, str]) -> float | None:
    """The ``Date`` header as epoch seconds, or None when absent or unparsable."""
    raw = headers.get("Date") or headers.get("date")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        log.warning("ignoring an unparsable Date header")
        return None


class ServerClock:
    """A :class:`~exact_online_sdk.clock.Clock` that reads Exact's time: ``local.now() + offset``.

    ``observe`` measures the offset from one answer (its ``Date`` and the local send/receive times); the
    latest measurement wins, because clocks step. Until the first measurement :meth:`adopt` may set the offset
    from a stored token. ``sleep`` is the local clock's (a duration is the same on both clocks).
    """

    def __init__(self, local: Clock | None = None, *, offset: float = 0.0) -> None:
        self.local: Clock = local.local if isinstance(local, ServerClock) else (local or SystemClock())
        self._offset = offset
        self._measured = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServerClock(offset={self._offset:+.1f}, measured={self._measured})"

    @property
    def offset(self) -> float:
        """Exact's clock minus the local clock, in seconds."""
        with self._lock:
            return self._offset

    @property
    def measured(self) -> bool:
        """True once an answer from Exact set the offset (a stored offset no longer applies)."""
        with self._lock:
            return self._measured

    def now(self) -> float:
        return self.local.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self.local.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await self.local.asleep(seconds)

    def adopt(self, offset: float) -> None:
        """Use a writer's stored offset until this process measures its own."""
        with self._lock:
            if not self._measured:
                self._offset = offset

    def observe(self, headers: Mapping[str, str], *, sent: float, received: float) -> float | None:
        """Measure the offset from an answer sent and received at these local times; returns Exact's time of
        the answer (the ``Date``), or None when the answer carries no usable ``Date``.

        ``Date`` has whole seconds and was stamped between our send and our receive, so Exact's clock minus ours
        lies in ``[date - received, date + 1 - sent]``. The offset moves only as far as needed to lie inside that
        interval: a slow answer (a wide interval) never drags a good estimate away, two clocks that agree keep
        offset 0 whatever the latency, and a real skew is tracked from below, i.e. Exact's time is never
        overestimated by more than the round trip (a refresh is never sent before Exact's 570 s)."""
        date = server_date(headers)
        if date is None:
            return None
        low, high = date - received, date + 1.0 - sent
        if abs(low) > MAX_PLAUSIBLE_OFFSET:
            log.warning("ignoring a Date header %.0f s away from the local clock", low)
            return None
        with self._lock:
            before = self._offset
            self._offset = min(max(before, low), high) if low <= high else (low + high) / 2
            self._measured = True
            if abs(self._offset - before) > 2.0:
                log.info("Exact's clock is %+.1f s from the local clock", self._offset)
        return date


def as_server_clock(clock: Clock | None) -> ServerClock:
    """``clock`` itself when it already reads Exact's time, else a :class:`ServerClock` over it."""
    return clock if isinstance(clock, ServerClock) else ServerClock(clock)
