"""Rate-limit book-keeping and pacing (sans-IO: callers pass the time and do the sleeping).

Exact allows N calls per minute and M per day per (app, division) and reports both on every response in six
``X-RateLimit-*`` headers whose resets are epoch **milliseconds** on Exact's clock. A :class:`RateBudget` keeps
one such pair of windows for one (host, client id, division); :func:`shared_budget` hands every client, thread
and task in the process the same instance. Pacing rule: a request is sent only while the minutely window has a
call left after subtracting the calls already in flight; otherwise the caller waits for the window's reset.
A spent daily window raises :class:`~exact_online_sdk.exceptions.DailyRateLimitExceeded` at once.

Resets are on Exact's clock; :class:`ServerClock` says where that clock stands against ours. It keeps the tightest
*lower bound* of the offset that the answers prove (an answer's ``Date`` second and the start of its minute window,
``X-RateLimit-Minutely-Reset`` - 60 s, both happened before we received it), so a wait ends a few milliseconds after
the window really reopened instead of up to a second and a half later, and never before it.

Several processes working on one company share a budget through :class:`RateBudgetBackend`
(:mod:`exact_online_sdk.scale.budget` keeps it in DynamoDB); register one with :func:`set_budget_factory` or pass
``budgets=`` to a client.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from ..exceptions import DailyRateLimitExceeded

__all__ = [
    "BudgetKey",
    "HeaderLimits",
    "InMemoryRateBudget",
    "RateBudget",
    "RateBudgetBackend",
    "RateLimitSnapshot",
    "ServerClock",
    "parse_rate_limit_headers",
    "reset_shared_budgets",
    "server_skew",
    "set_budget_factory",
    "shared_budget",
]

BudgetKey = tuple[str, str, int | None]
"""(host, client id, division); division None for division-less endpoints such as ``current/Me``."""

SAFETY_MARGIN = 0.05
"""Seconds added after a reset before sending again: room for Exact's servers disagreeing by a few milliseconds
(the offset itself is a proven lower bound, see :class:`ServerClock`)."""

CALIBRATION_BUCKET = 300.0
"""Seconds over which one lower bound of Exact's clock is kept: the bound of the last 5-10 minutes is used, so a
clock that was stepped (NTP) is followed within ten minutes."""

IMPLAUSIBLE = 2.0
"""A window start more than this past the answer's Date second is a broken header, not a clock reading."""


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    """What is known about one budget. Resets are epoch seconds on the *local* clock (skew-corrected)."""

    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset: float | None = None
    minutely_limit: int | None = None
    minutely_remaining: int | None = None
    minutely_reset: float | None = None
    in_flight: int = 0
    skew: float = 0.0
    observed_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for error context and JSON logs)."""
        return {
            "daily_limit": self.daily_limit,
            "daily_remaining": self.daily_remaining,
            "daily_reset": self.daily_reset,
            "minutely_limit": self.minutely_limit,
            "minutely_remaining": self.minutely_remaining,
            "minutely_reset": self.minutely_reset,
            "in_flight": self.in_flight,
        }


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    """The ``X-RateLimit-*`` values of one response, resets converted to epoch seconds on Exact's clock."""

    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset: float | None = None
    minutely_limit: int | None = None
    minutely_remaining: int | None = None
    minutely_reset: float | None = None

    @property
    def has_daily(self) -> bool:
        return self.daily_remaining is not None

    @property
    def has_minutely(self) -> bool:
        return self.minutely_remaining is not None


def _int(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative header integer of at most 19 ASCII digits; anything else counts as absent."""
    raw = headers.get(name)
    if raw is None:
        return None
    text = str(raw).strip()
    # isdigit() alone admits "²"; 19 digits cover every epoch in ms, and keep int() and the /1000 below finite.
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    return int(text)


def _reset(headers: Mapping[str, str], name: str) -> float | None:
    value = _int(headers, name)
    if value is None:
        return None
    # Exact sends epoch milliseconds; tolerate seconds (a value that small cannot be a ms timestamp after 1971).
    return value / 1000.0 if value > 10_000_000_000 else float(value)


def parse_rate_limit_headers(headers: Mapping[str, str]) -> HeaderLimits:
    """Read all six ``X-RateLimit-*`` headers (any may be missing, e.g. the daily ones on a minutely 429)."""
    return HeaderLimits(
        daily_limit=_int(headers, "x-ratelimit-limit"),
        daily_remaining=_int(headers, "x-ratelimit-remaining"),
        daily_reset=_reset(headers, "x-ratelimit-reset"),
        minutely_limit=_int(headers, "x-ratelimit-minutely-limit"),
        minutely_remaining=_int(headers, "x-ratelimit-minutely-remaining"),
        minutely_reset=_reset(headers, "x-ratelimit-minutely-reset"),
    )


def server_skew(headers: Mapping[str, str], local_now: float) -> float | None:
    """Exact's clock minus ours, from the ``Date`` header (None when absent or unreadable)."""
    raw = headers.get("date")
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp() - local_now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class ServerClock:
    """Where Exact's clock stands against ours (sans-IO, not thread-safe: its owner locks).

    ``offset`` is a lower bound of (Exact's time - our time): every answer proves Exact's clock had reached its
    ``Date`` second and the start of its minute (and day) window before we received it. The tightest bound of the
    last 5-10 minutes is kept, so the estimate sharpens to the round-trip time as answers arrive at different
    sub-second phases, and follows a stepped clock within ten minutes. A minutely 429 in a window we believed over
    proves the bound was too high (Exact's servers disagreeing): it is capped for the next ten minutes.
    """

    __slots__ = ("_cap", "_current", "_previous")

    def __init__(self) -> None:
        self._current: tuple[int, float] | None = None  # (bucket, best lower bound seen in it)
        self._previous: tuple[int, float] | None = None
        self._cap: tuple[float, float] | None = None  # (highest offset allowed, until local time)

    @property
    def calibrated(self) -> bool:
        """True once an answer said anything about Exact's clock."""
        return self._current is not None

    def offset(self, now: float) -> float:
        """The lower bound of Exact's time minus ours in use at ``now`` (0.0 before any answer)."""
        bounds = [kept[1] for kept in (self._current, self._previous) if kept is not None]
        best = max(bounds) if bounds else 0.0
        if self._cap is not None and now < self._cap[1]:
            best = min(best, self._cap[0])
        return best

    def server_now(self, now: float) -> float:
        """The earliest time Exact's clock may show at our ``now``."""
        return now + self.offset(now)

    def to_local(self, server_time: float, now: float) -> float:
        """Our time at which Exact's clock has surely passed ``server_time`` (plus :data:`SAFETY_MARGIN`)."""
        return server_time - self.offset(now) + SAFETY_MARGIN

    def observe(self, now: float, limits: HeaderLimits, date_skew: float | None) -> None:
        """Learn from one answer received at ``now`` (its parsed limits and ``Date`` skew, either may be empty)."""
        bounds: list[float] = []
        if date_skew is not None:
            bounds.append(date_skew)
        for reset, length in ((limits.minutely_reset, 60.0), (limits.daily_reset, 86_400.0)):
            if reset is None:
                continue
            bound = reset - length - now
            if date_skew is not None and bound > date_skew + 1.0 + IMPLAUSIBLE:
                continue  # a window that starts after the answer's own Date second: a broken header
            bounds.append(bound)
        if not bounds:
            return
        self._note(now, max(bounds))

    def _note(self, now: float, bound: float) -> None:
        bucket = math.floor(now / CALIBRATION_BUCKET)
        current = self._current
        if current is not None and current[0] == bucket:
            self._current = (bucket, max(current[1], bound))
            return
        self._previous = current if current is not None and current[0] == bucket - 1 else None
        self._current = (bucket, bound)

    def ran_ahead(self, now: float, server_reset: float) -> None:
        """A minutely 429 said Exact's window ending at ``server_reset`` was still open at ``now``, though we
        believed it over: keep the offset low enough that the next wait ends after such a reset."""
        cap = server_reset - now - SAFETY_MARGIN
        if self._cap is not None and now < self._cap[1]:
            cap = min(cap, self._cap[0])
        self._cap = (cap, now + 2 * CALIBRATION_BUCKET)


@dataclass(slots=True)
class _Window:
    """One rate-limit window as the answers describe it; ``reset`` on Exact's clock (epoch seconds)."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None

    def fold(self, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """Fold one answer in. Answers of concurrent calls arrive out of order: within one window the lowest count
        wins, and an answer from a window already replaced changes nothing."""
        if limit is not None:
            self.limit = limit
        if remaining is None:
            return
        if reset is not None and self.reset is not None:
            if reset < self.reset - 0.5:
                return  # a late answer from the previous window
            if abs(reset - self.reset) < 0.5 and self.remaining is not None:
                remaining = min(remaining, self.remaining)
        self.remaining = remaining
        self.reset = reset

    def roll(self, server_reset_passed: bool) -> None:
        if server_reset_passed:
            self.remaining, self.reset = self.limit, None


@runtime_checkable
class RateBudgetBackend(Protocol):
    """A budget that may live outside this process. All times are local epoch seconds.

    ``acquire`` either reserves one call and returns 0, returns the seconds to wait before asking again, or
    raises DailyRateLimitExceeded. ``release`` returns the reservation with what the response said.
    """

    def acquire(self, now: float) -> float:
        """Reserve a call now (0.0) or say how long to wait; raises DailyRateLimitExceeded."""
        ...

    def release(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        """Give back a reservation; ``headers`` of the answer (None if none came); ``rejected`` for a 429."""
        ...

    def snapshot(self, now: float) -> RateLimitSnapshot:
        """The current state (for ``client.rate_limits()`` and error context)."""
        ...


class InMemoryRateBudget:
    """The in-process budget: thread-safe, shared by every client of one key via :func:`shared_budget`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clock = ServerClock()
        self._minutely = _Window()
        self._daily = _Window()
        self._in_flight = 0
        self._blocked_until = 0.0
        self._observed_at: float | None = None

    def _roll(self, now: float) -> None:
        for window in (self._minutely, self._daily):
            if window.reset is not None:
                window.roll(now >= self.clock.to_local(window.reset, now))

    def acquire(self, now: float) -> float:
        with self._lock:
            self._roll(now)
            if now < self._blocked_until:
                return self._blocked_until - now
            daily, minutely, busy = self._daily, self._minutely, self._in_flight
            if daily.remaining is not None and daily.remaining - busy <= 0:
                if daily.reset is not None:
                    raise DailyRateLimitExceeded(
                        f"daily rate limit of {daily.limit} calls spent",
                        reset_at=self.clock.to_local(daily.reset, now),
                        context={"rate_limits": self._snapshot(now).as_dict()},
                    )
                if busy:  # unknown reset but calls pending: their answers will tell
                    return 0.05
            if minutely.remaining is not None and minutely.remaining - busy <= 0:
                if minutely.reset is not None:
                    return self.clock.to_local(minutely.reset, now) - now  # > 0: _roll above did not roll it
                if busy:
                    return 0.05
            self._in_flight += 1
            return 0.0

    def release(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)
            self._observe(now, headers, rejected=rejected)

    def observe(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        """Fold an answer in without returning a reservation (a shared backend keeps the reservations)."""
        with self._lock:
            self._observe(now, headers, rejected=rejected)

    def _observe(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool) -> None:
        if headers is not None:
            limits = parse_rate_limit_headers(headers)
            reset = limits.minutely_reset
            if (
                rejected
                and limits.minutely_remaining == 0
                and reset is not None
                and self.clock.server_now(now) >= reset
            ):
                self.clock.ran_ahead(now, reset)
            self.clock.observe(now, limits, server_skew(headers, now))
            if limits.has_minutely:
                self._minutely.fold(limits.minutely_limit, limits.minutely_remaining, limits.minutely_reset)
            if limits.has_daily:
                self._daily.fold(limits.daily_limit, limits.daily_remaining, limits.daily_reset)
            self._observed_at = now
        minutely, daily = self._minutely, self._daily
        known_reset = (minutely.remaining == 0 and minutely.reset) or (daily.remaining == 0 and daily.reset)
        if rejected and not known_reset:
            # A 429 with no usable reset (older Exact): wait for the next clock-aligned minute.
            next_minute = math.floor(self.clock.server_now(now) / 60 + 1) * 60
            self._blocked_until = self.clock.to_local(next_minute, now)
        self._roll(now)

    def _snapshot(self, now: float) -> RateLimitSnapshot:
        m, d, clock = self._minutely, self._daily, self.clock
        return RateLimitSnapshot(
            daily_limit=d.limit,
            daily_remaining=d.remaining,
            daily_reset=None if d.reset is None else clock.to_local(d.reset, now),
            minutely_limit=m.limit,
            minutely_remaining=m.remaining,
            minutely_reset=None if m.reset is None else clock.to_local(m.reset, now),
            in_flight=self._in_flight,
            skew=clock.offset(now),
            observed_at=self._observed_at,
        )

    def snapshot(self, now: float) -> RateLimitSnapshot:
        with self._lock:
            self._roll(now)
            return self._snapshot(now)


RateBudget = RateBudgetBackend
"""The type clients hold: anything implementing the backend protocol."""

_budgets: dict[BudgetKey, RateBudgetBackend] = {}
_budgets_lock = threading.Lock()
_factory: Callable[[BudgetKey], RateBudgetBackend] = lambda key: InMemoryRateBudget()  # noqa: E731


def shared_budget(key: BudgetKey) -> RateBudgetBackend:
    """The one budget of ``key`` in this process (created by the registered factory on first use)."""
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = _factory(key)
        return budget


def set_budget_factory(factory: Callable[[BudgetKey], RateBudgetBackend] | None) -> None:
    """Use ``factory`` for budgets created from now on (None restores the in-memory default)."""
    global _factory
    with _budgets_lock:
        _factory = factory if factory is not None else (lambda key: InMemoryRateBudget())


def reset_shared_budgets() -> None:
    """Forget every shared budget (tests; a new process starts empty anyway)."""
    with _budgets_lock:
        _budgets.clear()
