"""The one read-only token source: workers read what the single writer stored and never refresh.

Every store plugs into :class:`ReadOnlyTokenStorage` (the shape of Powertools' ``BaseProvider``: the store only
loads; caching, the near-expiry re-read, the bounded wait for the writer's next generation and the 401 re-read
live here, once). ``aws.worker.SecretsManagerTokenProvider`` is this class over the Secrets Manager slots.

The decisions are a sans-IO generator, :func:`read_flow`: it yields :class:`Load` and :class:`Wait` actions and
receives what the store returned; the sync shell (:meth:`ReadOnlyTokenStorage.fresh_token`) and the async shell
(:meth:`ReadOnlyTokenStorage.afresh_token`) only perform them, so both decide the same by construction.

Rules (one set of numbers, :class:`ReadPolicy`):
- a token is served while it has more than ``min_validity`` seconds left on Exact's clock (the writer's measured
  offset is adopted from the stored state until this process measures its own);
- reads are cached for at most ``cache_ttl`` seconds and never past ``expires_at - min_validity``;
- a store that cannot be read (throttling, KMS) does not fail a worker whose cached token is still good;
- near expiry the store is re-read, then polled with backoff for at most ``poll_timeout`` seconds, then
  :class:`~.errors.TokenUnavailable` (the only error) is raised;
- one poller per process: other threads wait for its result;
- on a 401 the store is re-read once; a different, unexpired token is offered for one retry, else None.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass

from ..clock import Clock
from ._locks import apoll_acquire
from .errors import ReadOnlyRefreshRefused, TokenUnavailable
from .store import FreshLoading, TokenStore, TokenStoreError
from .timebase import ServerClock, as_server_clock
from .token import Token

__all__ = ["Load", "LoadFailed", "ReadOnlyTokenStorage", "ReadPolicy", "Wait", "read_flow"]

log = logging.getLogger("exact_online_sdk.auth.readonly")


@dataclass(frozen=True)
class ReadPolicy:
    """The read-only source's numbers (seconds); the class attributes are the defaults."""

    min_validity: float = 15.0
    cache_ttl: float = 30.0
    poll_timeout: float = 90.0
    poll_interval: float = 1.0
    max_poll_interval: float = 8.0

    def __post_init__(self) -> None:
        if self.min_validity < 0 or self.poll_timeout < 0 or self.cache_ttl < 0:
            raise ValueError("min_validity, cache_ttl and poll_timeout must be >= 0")
        if self.poll_interval <= 0 or self.max_poll_interval < self.poll_interval:
            raise ValueError("poll_interval must be > 0 and max_poll_interval >= poll_interval")


@dataclass(frozen=True, slots=True)
class Load:
    """Action: read the store, bypassing any store-side cache."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Action: sleep ``seconds`` on the clock."""

    seconds: float


@dataclass(frozen=True, slots=True)
class LoadFailed:
    """The answer to :class:`Load` when the store could not be read."""

    error: TokenStoreError


@dataclass(frozen=True, slots=True)
class Cached:
    """What the source remembers between calls."""

    token: Token
    until: float


ReadAction = Load | Wait
LoadResult = Token | None | LoadFailed


def read_flow(
    cached: Cached | None, clock: ServerClock, policy: ReadPolicy, *, force: bool = False
) -> Generator[ReadAction, LoadResult, Token]:
    """Decide how to obtain a token valid for more than ``policy.min_validity`` seconds (see module doc).

    ``cached`` is the last token served (``force`` skips it once); returns the token to serve, raises
    :class:`TokenUnavailable`."""
    now = clock.now()
    if cached is not None and not force and now < cached.until and _usable(cached.token, now, policy):
        return cached.token
    seen: Token | None = cached.token if cached is not None else None
    failure: TokenStoreError | None = None
    deadline: float | None = None
    delay = policy.poll_interval
    while True:
        result = yield Load()
        now = clock.now()
        if isinstance(result, LoadFailed):
            failure = result.error
            if seen is not None and _usable(seen, now, policy):
                # Defect 8: a throttled or failing store must not stop a worker whose token is still good.
                log.warning("the token store cannot be read (%s); serving the cached token", failure)
                return seen
        else:
            failure = None
            if result is not None:
                clock.adopt(result.clock_offset)
                now = clock.now()
                if seen is None or result.generation >= seen.generation:
                    seen = result
                if _usable(result, now, policy):
                    return result
        if deadline is None:
            deadline = now + policy.poll_timeout
        remaining = deadline - now
        if remaining <= 0:
            raise _unavailable(seen, failure, policy)
        yield Wait(min(delay, remaining))
        delay = min(delay * 2, policy.max_poll_interval)


def _usable(token: Token, now: float, policy: ReadPolicy) -> bool:
    return token.expires_in(now) > policy.min_validity


def _unavailable(seen: Token | None, failure: TokenStoreError | None, policy: ReadPolicy) -> TokenUnavailable:
    if failure is not None:
        return TokenUnavailable(
            f"the token store could not be read for {policy.poll_timeout:.0f} s and no cached token is left: {failure}"
        )
    if seen is None:
        return TokenUnavailable("no token is stored yet")
    log.error("no fresh token after %.0f s (generation %d is expiring)", policy.poll_timeout, seen.generation)
    return TokenUnavailable(
        f"the stored token (generation {seen.generation}) is expiring and no newer generation appeared within "
        f"{policy.poll_timeout:.0f} s: check that the token refresher is running"
    )


class ReadOnlyTokenStorage:
    """A read-only token source over any store: loads pass through, saves are refused, near expiry it waits
    for the writer's next generation. A :class:`~exact_online_sdk._core.credentials.TokenSource` (sync and
    async): ``ExactOnlineClient(settings, auth=ReadOnlyTokenStorage(store))``. Thread-safe."""

    read_only = True

    def __init__(
        self,
        inner: TokenStore,
        *,
        clock: Clock | None = None,
        min_validity: float = ReadPolicy.min_validity,
        poll_timeout: float = ReadPolicy.poll_timeout,
        poll_interval: float = ReadPolicy.poll_interval,
        max_poll_interval: float = ReadPolicy.max_poll_interval,
        cache_ttl: float = ReadPolicy.cache_ttl,
    ) -> None:
        self.inner: TokenStore = inner.inner if isinstance(inner, ReadOnlyTokenStorage) else inner
        self.clock: ServerClock = as_server_clock(clock)
        self.policy = ReadPolicy(min_validity, cache_ttl, poll_timeout, poll_interval, max_poll_interval)
        self._cached: Cached | None = None
        self._state_lock = threading.Lock()
        self._poll_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    # -- the policy's numbers, as attributes (read-only views) ------------------------------------------------
    @property
    def min_validity(self) -> float:
        return self.policy.min_validity

    @property
    def poll_timeout(self) -> float:
        return self.policy.poll_timeout

    # -- TokenStore -------------------------------------------------------------------------------------------
    def load(self) -> Token | None:
        """The inner store's token, as stored (no waiting)."""
        return self.inner.load()

    def save(self, token: Token, *, expected_generation: int | None) -> None:
        """Always refused: workers never write tokens."""
        raise ReadOnlyRefreshRefused()

    # -- I/O of the shells ------------------------------------------------------------------------------------
    def _read(self) -> LoadResult:
        try:
            return self.inner.load_fresh() if isinstance(self.inner, FreshLoading) else self.inner.load()
        except TokenStoreError as exc:
            return LoadFailed(exc)

    def _remember(self, token: Token) -> Token:
        now = self.clock.now()
        ttl = max(0.0, min(self.policy.cache_ttl, token.expires_in(now) - self.policy.min_validity))
        with self._state_lock:
            old = self._cached
            # Never let a slower, older read replace a newer generation that is still good.
            if old is None or token.generation >= old.token.generation or not _usable(old.token, now, self.policy):
                self._cached = Cached(token, now + ttl)
        return token

    def _snapshot(self) -> Cached | None:
        with self._state_lock:
            return self._cached

    def _drive(self, force: bool) -> Token:
        flow = read_flow(self._snapshot(), self.clock, self.policy, force=force)
        try:
            action = next(flow)
            while True:
                if isinstance(action, Load):
                    action = flow.send(self._read())
                else:
                    self.clock.sleep(action.seconds)
                    action = flow.send(None)
        except StopIteration as stop:
            return self._remember(stop.value)

    async def _adrive(self, force: bool) -> Token:
        flow = read_flow(self._snapshot(), self.clock, self.policy, force=force)
        try:
            action = next(flow)
            while True:
                if isinstance(action, Load):
                    action = flow.send(await asyncio.to_thread(self._read))
                else:
                    await self.clock.asleep(action.seconds)
                    action = flow.send(None)
        except StopIteration as stop:
            return self._remember(stop.value)

    # -- the token --------------------------------------------------------------------------------------------
    def fresh_token(self) -> Token:
        """A token valid for more than ``min_validity`` seconds, waiting (bounded) for the writer if needed."""
        flow = read_flow(self._snapshot(), self.clock, self.policy)
        try:
            next(flow)  # the cache could not serve: one poller per process, the others wait for its result
        except StopIteration as stop:
            token: Token = stop.value
            return token
        with self._poll_lock:
            return self._drive(force=False)

    token = fresh_token

    async def afresh_token(self) -> Token:
        """The asyncio form of :meth:`fresh_token` (store reads run in a thread)."""
        flow = read_flow(self._snapshot(), self.clock, self.policy)
        try:
            next(flow)
        except StopIteration as stop:
            token: Token = stop.value
            return token
        if not await apoll_acquire(lambda: self._poll_lock.acquire(blocking=False), self.policy.poll_timeout + 30):
            raise TokenUnavailable("waited in vain for another task's read of the token store")
        try:
            return await self._adrive(force=False)
        finally:
            self._poll_lock.release()

    # -- TokenSource / AsyncTokenSource -----------------------------------------------------------------------
    def get_access_token(self) -> str:
        """The access token to send (see :meth:`fresh_token`)."""
        return self.fresh_token().access_token

    async def aget_access_token(self) -> str:
        """The asyncio form of :meth:`get_access_token`."""
        return (await self.afresh_token()).access_token

    def _after_reread(self, result: LoadResult, rejected: str) -> str | None:
        if isinstance(result, LoadFailed):
            log.warning("re-reading the token store after a 401 failed: %s", result.error)
            return None
        if result is not None:
            self.clock.adopt(result.clock_offset)
        if result is None or result.access_token == rejected or result.expires_in(self.clock.now()) <= 0:
            log.warning("a 401 from Exact and the store holds no other valid token")
            return None
        return self._remember(result).access_token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Exact refused ``rejected_token``: re-read once; a different, unexpired token or None (no loop)."""
        return self._after_reread(self._read(), rejected_token)

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        """The asyncio form of :meth:`on_unauthorized`."""
        return self._after_reread(await asyncio.to_thread(self._read), rejected_token)
