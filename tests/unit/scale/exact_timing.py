"""A fake Exact whose timing is explicit: requests take time on a ManualClock, and its clocks may disagree with ours.

``limiter_skew`` is how far the clock that counts calls (and sets the ``X-RateLimit-*-Reset`` values) is ahead of
ours; ``date_skew`` the same for the server that stamps ``Date`` (by default the same clock). Each request spends
``up`` seconds reaching Exact and ``down`` seconds coming back, drawn from a seeded generator, so answers arrive at
all sub-second phases as they do over a real network.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from email.utils import formatdate

import httpx

from exact_online_sdk.clock import ManualClock

HOST = "https://start.exactonline.nl"


@dataclass
class TimedExact:
    clock: ManualClock
    limiter_skew: float = 0.0
    date_skew: float | None = None
    minutely_limit: int = 60
    daily_limit: int = 5000
    latency: tuple[float, float] = (0.02, 0.25)
    seed: int = 7
    rows_per_page: int = 1
    counts: dict[int, int] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)  # limiter time of every counted call
    sends: list[float] = field(default_factory=list)  # limiter time at which each counted call left the client
    rejected: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _leg(self) -> float:
        low, high = self.latency
        return self._rng.uniform(low, high)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        sent = self.clock.now() + self.limiter_skew
        self.clock.advance(self._leg())
        now = self.clock.now()
        limiter = now + self.limiter_skew
        stamp = now + (self.limiter_skew if self.date_skew is None else self.date_skew)
        minute = math.floor(limiter / 60)
        used = self.counts.get(minute, 0)
        reset = str((minute + 1) * 60_000)
        day_reset = str((math.floor(limiter / 86400) + 1) * 86_400_000)
        if used >= self.minutely_limit:
            self.rejected += 1
            response = httpx.Response(
                429,
                headers={
                    "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                    "X-RateLimit-Minutely-Remaining": "0",
                    "X-RateLimit-Minutely-Reset": reset,
                    "Date": formatdate(stamp, usegmt=True),
                },
            )
        else:
            self.counts[minute] = used + 1
            self.arrivals.append(limiter)
            self.sends.append(sent)
            total = sum(self.counts.values())
            response = httpx.Response(
                200,
                json={"d": {"results": [{"ID": str(total)}] * self.rows_per_page}},
                headers={
                    "X-RateLimit-Limit": str(self.daily_limit),
                    "X-RateLimit-Remaining": str(self.daily_limit - total),
                    "X-RateLimit-Reset": day_reset,
                    "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                    "X-RateLimit-Minutely-Remaining": str(self.minutely_limit - used - 1),
                    "X-RateLimit-Minutely-Reset": reset,
                    "Date": formatdate(stamp, usegmt=True),
                },
            )
        self.clock.advance(self._leg())
        return response

    def lateness(self) -> list[float]:
        """For every minute after the first: how long after the window opened its first call left the client
        (the pacing decision; the way to Exact comes on top and is no one's to save)."""
        firsts: dict[int, float] = {}
        for arrived, sent in zip(self.arrivals, self.sends, strict=True):
            firsts.setdefault(math.floor(arrived / 60), sent)
        minutes = sorted(firsts)
        return [firsts[m] - m * 60 for m in minutes[1:]]
