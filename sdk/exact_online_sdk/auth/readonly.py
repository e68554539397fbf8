"""Read-only token access for workers: they read what the single refresher wrote and never refresh.

:class:`ReadOnlyTokenStorage` wraps any store. ``save`` and ``refresh_lock`` are refused before any call to
Exact. It is also a :class:`~exact_online_sdk._core.credentials.TokenSource` (sync and async), so a worker can
pass it to the client directly: ``ExactOnlineClient(settings, auth=ReadOnlyTokenStorage(store))``.

Near expiry (less than ``min_validity`` seconds left) it re-reads the inner store, then polls it for the
writer's next generation with backoff for at most ``poll_timeout`` seconds of clock time, then raises
:class:`~.errors.TokenUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging

from ..clock import Clock, SystemClock
from .errors import ReadOnlyRefreshRefused, TokenUnavailable
from .store import TokenStore, TokenStoreError
from .token import Token

__all__ = ["ReadOnlyTokenStorage"]

log = logging.getLogger("exact_online_sdk.auth.readonly")


class ReadOnlyTokenStorage:
    """A store wrapper for workers: loads pass through, saves are refused, near-expiry waits for the writer."""

    read_only = True

    def __init__(
        self,
        inner: TokenStore,
        *,
        clock: Clock | None = None,
        min_validity: float = 5.0,
        poll_timeout: float = 90.0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        cache_ttl: float = 30.0,
    ) -> None:
        self.inner: TokenStore = inner.inner if isinstance(inner, ReadOnlyTokenStorage) else inner
        self.clock: Clock = clock or SystemClock()
        self.min_validity = min_validity
        self.poll_timeout = poll_timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.cache_ttl = cache_ttl
        self._cached: Token | None = None
        self._cached_until = 0.0

    def __repr__(self) -> str:
        return f"ReadOnlyTokenStorage({self.inner!r})"

    # -- TokenStore -------------------------------------------------------------------------------------------
    def load(self) -> Token | None:
        return self.inner.load()

    def save(self, token: Token, *, expected_generation: int | None) -> None:
        raise ReadOnlyRefreshRefused()

    # -- near-expiry logic ------------------------------------------------------------------------------------
    def _usable(self, token: Token | None, now: float) -> bool:
        return token is not None and token.expires_in(now) > self.min_validity

    def _remember(self, token: Token) -> Token:
        now = self.clock.now()
        self._cached = token
        # Cache no longer than the token has left (minus the margin), and never longer than cache_ttl.
        self._cached_until = now + max(0.0, min(self.cache_ttl, token.expires_in(now) - self.min_validity))
        return token

    def _poll_plan(self) -> tuple[float, float]:
        return self.clock.now() + self.poll_timeout, self.poll_interval

    def _unavailable(self, seen: Token | None) -> TokenUnavailable:
        if seen is None:
            return TokenUnavailable("no token is stored yet")
        return TokenUnavailable(
            f"the stored token (generation {seen.generation}) is expiring and no newer generation appeared "
            f"within {self.poll_timeout:.0f} s"
        )

    def fresh_token(self) -> Token:
        """A token valid for more than ``min_validity`` seconds, waiting (bounded) for the writer if needed."""
        now = self.clock.now()
        cached = self._cached
        if cached is not None and now < self._cached_until and self._usable(cached, now):
            return cached
        token = self.inner.load()
        if self._usable(token, self.clock.now()):
            assert token is not None
            return self._remember(token)
        deadline, delay = self._poll_plan()
        while self.clock.now() < deadline:
            self.clock.sleep(min(delay, max(0.0, deadline - self.clock.now())))
            delay = min(delay * 2, self.max_poll_interval)
            newer = self.inner.load()
            if self._usable(newer, self.clock.now()):
                assert newer is not None
                return self._remember(newer)
        raise self._unavailable(token)

    async def afresh_token(self) -> Token:
        """The asyncio form of :meth:`fresh_token` (store reads run in a thread)."""
        now = self.clock.now()
        cached = self._cached
        if cached is not None and now < self._cached_until and self._usable(cached, now):
            return cached
        token = await asyncio.to_thread(self.inner.load)
        if self._usable(token, self.clock.now()):
            assert token is not None
            return self._remember(token)
        deadline, delay = self._poll_plan()
        while self.clock.now() < deadline:
            await self.clock.asleep(min(delay, max(0.0, deadline - self.clock.now())))
            delay = min(delay * 2, self.max_poll_interval)
            newer = await asyncio.to_thread(self.inner.load)
            if self._usable(newer, self.clock.now()):
                assert newer is not None
                return self._remember(newer)
        raise self._unavailable(token)

    # -- TokenSource / AsyncTokenSource -----------------------------------------------------------------------
    def get_access_token(self) -> str:
        return self.fresh_token().access_token

    async def aget_access_token(self) -> str:
        return (await self.afresh_token()).access_token

    def _after_reread(self, token: Token | None, rejected: str) -> str | None:
        if token is None or token.access_token == rejected or token.expires_in(self.clock.now()) <= 0:
            log.warning("a 401 from Exact and the store holds no other valid token")
            return None
        return self._remember(token).access_token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Re-read the store once; a different valid token is returned for one retry, else None."""
        self._cached = None
        try:
            return self._after_reread(self.inner.load(), rejected_token)
        except TokenStoreError:
            log.exception("re-reading the token store after a 401 failed")
            return None

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        self._cached = None
        try:
            return self._after_reread(await asyncio.to_thread(self.inner.load), rejected_token)
        except TokenStoreError:
            log.exception("re-reading the token store after a 401 failed")
            return None
