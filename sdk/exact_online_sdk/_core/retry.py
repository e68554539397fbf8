"""Retry decisions: which failures may be retried, and how long to wait (jittered backoff, overall deadline)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from ..exceptions import APIError, RateLimitError, TransportError

__all__ = ["RetryPolicy", "parse_retry_after"]

IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta seconds or an HTTP-date), or None."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        return float(raw) if len(raw) <= 12 else None  # more than 30,000 years is not an answer
    try:
        return max(parsedate_to_datetime(raw).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries.

    GET/PUT/DELETE retry on 5xx, 408, timeouts, transport errors and transient non-JSON answers. POST retries
    only when Exact certainly did not receive it (connection refused) unless ``retry_post=True``. A 429 always
    retries after the reset (it was not processed), within ``deadline`` seconds overall.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    deadline: float = 300.0
    retry_post: bool = False
    max_rate_limit_wait: float = 120.0
    """A single wait for a minutely reset longer than this raises instead (a minute window needs at most 60)."""
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return float(ceiling * (0.5 + 0.5 * self.random()))

    def may_retry(self, method: str, error: APIError) -> bool:
        """Whether this failure of this method may be retried at all (ignoring attempts and deadline)."""
        if isinstance(error, RateLimitError):
            return error.limit == "minutely"
        if not error.retryable:
            return False
        if method in IDEMPOTENT or self.retry_post:
            return True
        # POST: only when Exact cannot have seen it.
        return isinstance(error, TransportError) and not error.outcome_unknown

    def delay(
        self, method: str, error: APIError, attempt: int, *, retry_after: float | None, rate_wait: float | None
    ) -> float:
        """Seconds to sleep before the next attempt (Retry-After wins, then the rate-limit reset, then backoff)."""
        if retry_after is not None:
            return retry_after
        if isinstance(error, RateLimitError) and rate_wait is not None:
            return rate_wait
        return self.backoff(attempt)
