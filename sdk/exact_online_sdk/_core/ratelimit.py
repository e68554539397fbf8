"""Rate-limit book-keeping and pacing (sans-IO: callers pass the time and do the sleeping).

Exact allows N calls per minute and M per day per (app, division) and reports both on every response in six
``X-RateLimit-*`` headers whose resets are epoch **milliseconds** on Exact's clock. A :class:`RateBudget` keeps
one such pair of windows for one (host, client id, division); :func:`shared_budget` hands every client, thread
and task in the process the same instance. Pacing rule: a request is sent only while the minutely window has a
call left after subtracting the calls already in flight; otherwise the caller waits for the window's reset
(corrected for clock skew measured from the ``Date`` header). A spent daily window raises
:class:`~exact_online_sdk.exceptions.DailyRateLimitExceeded` at once.

Several processes working on one company can share a budget by implementing :class:`RateBudgetBackend`
(e.g. on Redis or DynamoDB) and registering it with :func:`set_budget_factory`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from ..exceptions import DailyRateLimitExceeded

__all__ = [
    "BudgetKey",
    "InMemoryRateBudget",
    "RateBudget",
    "RateBudgetBackend",
    "RateLimitSnapshot",
    "parse_rate_limit_headers",
    "reset_shared_budgets",
    "server_skew",
    "set_budget_factory",
    "shared_budget",
]

BudgetKey = tuple[str, str, int | None]
"""(host, client id, division); division None for division-less endpoints such as ``current/Me``."""

SAFETY_MARGIN = 0.5
"""Seconds added after a reset before sending again (Date headers have one-second resolution)."""


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


Window = tuple[int | None, int | None, float | None]
"""One rate-limit window: (limit, remaining, reset in epoch seconds)."""


def _merge_window(known: Window, answer: Window, to_local: float) -> Window:
    """Fold one window's headers into what is known; ``answer``'s reset is on Exact's clock."""
    limit, remaining, server_reset = answer
    known_limit, known_remaining, known_reset = known
    reset = None if server_reset is None else server_reset + to_local
    # Answers of concurrent calls arrive out of order: within one window keep the lowest count.
    if (
        reset is not None
        and known_reset is not None
        and abs(reset - known_reset) < 1.0
        and known_remaining is not None
        and remaining is not None
    ):
        remaining = min(remaining, known_remaining)
    return (limit if limit is not None else known_limit, remaining, reset)


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
        self._state = RateLimitSnapshot()
        self._blocked_until = 0.0

    def _roll(self, now: float) -> None:
        s = self._state
        if s.minutely_reset is not None and now >= s.minutely_reset:
            s = replace(s, minutely_remaining=s.minutely_limit, minutely_reset=None)
        if s.daily_reset is not None and now >= s.daily_reset:
            s = replace(s, daily_remaining=s.daily_limit, daily_reset=None)
        self._state = s

    def acquire(self, now: float) -> float:
        with self._lock:
            self._roll(now)
            s = self._state
            if now < self._blocked_until:
                return self._blocked_until - now
            if s.daily_remaining is not None and s.daily_remaining - s.in_flight <= 0:
                if s.daily_reset is not None:
                    raise DailyRateLimitExceeded(
                        f"daily rate limit of {s.daily_limit} calls spent",
                        reset_at=s.daily_reset,
                        context={"rate_limits": s.as_dict()},
                    )
                if s.in_flight:  # unknown reset but calls pending: their answers will tell
                    return 0.05
            if s.minutely_remaining is not None and s.minutely_remaining - s.in_flight <= 0:
                if s.minutely_reset is not None:
                    return max(s.minutely_reset - now, 0.0)
                if s.in_flight:
                    return 0.05
            self._state = replace(s, in_flight=s.in_flight + 1)
            return 0.0

    def release(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        with self._lock:
            s = self._state
            s = replace(s, in_flight=max(s.in_flight - 1, 0))
            if headers is not None:
                s = self._merge(s, now, headers)
            known_reset = (s.minutely_remaining == 0 and s.minutely_reset) or (s.daily_remaining == 0 and s.daily_reset)
            if rejected and not known_reset:
                # A 429 with no usable reset (older Exact): wait for the next clock-aligned minute.
                server_now = now + s.skew
                self._blocked_until = math.floor(server_now / 60 + 1) * 60 - s.skew + SAFETY_MARGIN
            self._state = s
            self._roll(now)

    def _merge(self, s: RateLimitSnapshot, now: float, headers: Mapping[str, str]) -> RateLimitSnapshot:
        skew = server_skew(headers, now)
        if skew is not None:
            s = replace(s, skew=skew)
        h = parse_rate_limit_headers(headers)
        to_local = SAFETY_MARGIN - s.skew
        if h.has_minutely:
            limit, remaining, reset = _merge_window(
                (s.minutely_limit, s.minutely_remaining, s.minutely_reset),
                (h.minutely_limit, h.minutely_remaining, h.minutely_reset),
                to_local,
            )
            s = replace(s, minutely_limit=limit, minutely_remaining=remaining, minutely_reset=reset)
        if h.has_daily:
            limit, remaining, reset = _merge_window(
                (s.daily_limit, s.daily_remaining, s.daily_reset),
                (h.daily_limit, h.daily_remaining, h.daily_reset),
                to_local,
            )
            s = replace(s, daily_limit=limit, daily_remaining=remaining, daily_reset=reset)
        return replace(s, observed_at=now)

    def snapshot(self, now: float) -> RateLimitSnapshot:
        with self._lock:
            self._roll(now)
            return self._state


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
