"""``ExactOnlineAuth``: the authorization-code flow and a token source that refreshes inside Exact's rules.

Rules it keeps (FACTS §1.3):
- Refresh only when the token is at least ``min_refresh_age`` (570 s) + ``skew_margin`` old, which is before it
  expires with Exact's 600 s tokens. Earlier calls get the stored token.
- Single flight: one ``threading.Lock`` per instance serializes refreshes of every thread and asyncio task
  (async callers poll it, so it works with any event loop); the store's :class:`~.store.RefreshLocking`
  lock serializes processes. After taking the locks the store is re-read, and the refresh is skipped when
  another thread or process already rotated the token.
- A refresh that timed out raises :class:`~.errors.RefreshOutcomeUnknown` once; its refresh token is never
  resent automatically (``refresh(retry_unknown=True)`` does it on request). Until the stored access token
  expires it is still handed out; after that the error is raised again, without calling Exact.
- A 401 from the API: re-read the store once; another token is returned for one retry, else None.
- A read-only store (workers) is never refreshed: near expiry it waits for the writer's next generation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

import httpx

from ..clock import Clock, SystemClock
from ..exceptions import ConfigError
from .errors import (
    ReadOnlyRefreshRefused,
    RefreshOutcomeUnknown,
    TokenUnavailable,
    TooEarlyToRefresh,
)
from .memory import MemoryTokenStorage
from .oauth import DEFAULT_TIMEOUT, AsyncOAuthEndpoint, OAuthEndpoint, parse_callback, verify_state
from .readonly import ReadOnlyTokenStorage
from .store import GenerationConflict, RefreshLock, RefreshLocking, TokenStore, TokenStoreError
from .token import Token

__all__ = ["EXACT_MIN_REFRESH_AGE", "ExactOnlineAuth"]

log = logging.getLogger("exact_online_sdk.auth.manager")

EXACT_MIN_REFRESH_AGE = 570.0
"""Exact refuses a refresh less than 570 s after the current access token was issued."""


def default_storage(settings: Any) -> TokenStore:
    """The encrypted file store when ``EXACT_TOKEN_PATH`` is configured, else an in-memory store."""
    if settings is not None and getattr(settings, "token_path", None):
        from .file import EncryptedFileTokenStorage

        return EncryptedFileTokenStorage.from_settings(settings)
    return MemoryTokenStorage()


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)


class ExactOnlineAuth:
    """OAuth2 for one Exact app and user: login URL, code exchange, and a refreshing token source.

    ``settings`` is a :class:`~exact_online_sdk.config.Settings` (client_id, client_secret, redirect_uri,
    base_url, timeout); keyword arguments override it. ``storage`` defaults to the encrypted file store when
    ``EXACT_TOKEN_PATH`` is set, else memory. Implements ``TokenSource`` and ``AsyncTokenSource``.
    """

    def __init__(
        self,
        settings: Any = None,
        *,
        storage: TokenStore | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        base_url: str | None = None,
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float | None = None,
        min_refresh_age: float = EXACT_MIN_REFRESH_AGE,
        skew_margin: float = 5.0,
        too_early_backoff: float = 10.0,
        lock_timeout: float = 60.0,
        writer: str = "",
    ) -> None:
        self.client_id = client_id or getattr(settings, "client_id", None)
        self._client_secret = client_secret or _secret(getattr(settings, "client_secret", None))
        self.redirect_uri = redirect_uri or getattr(settings, "redirect_uri", None)
        self.base_url = base_url or getattr(settings, "base_url", None) or "https://start.exactonline.nl"
        self.timeout = float(timeout or getattr(settings, "timeout", None) or DEFAULT_TIMEOUT)
        self.storage: TokenStore = storage if storage is not None else default_storage(settings)
        self.clock: Clock = clock or SystemClock()
        self.min_refresh_age = min_refresh_age
        self.skew_margin = skew_margin
        self.too_early_backoff = too_early_backoff
        self.lock_timeout = lock_timeout
        self.writer = writer or f"{socket.gethostname()}:{os.getpid()}"
        self._http = http_client
        self._async_http = async_http_client
        self._endpoint: OAuthEndpoint | None = None
        self._lock = threading.Lock()  # single flight for threads and asyncio tasks alike
        self._cached: Token | None = None
        self._pending_save: Token | None = None
        self._unknown_generation: int | None = None
        self._not_before = 0.0
        self.pending_state: str | None = None

    def __repr__(self) -> str:
        return f"ExactOnlineAuth(base_url={self.base_url!r}, client_id={self.client_id!r}, storage={self.storage!r})"

    # -- configuration ----------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True when the store refuses writes (a worker): this instance then never calls the token endpoint."""
        return bool(getattr(self.storage, "read_only", False))

    def _endpoint_args(self) -> tuple[str, str, str, str]:
        missing = [
            name
            for name, value in (
                ("EXACT_CLIENT_ID", self.client_id),
                ("EXACT_CLIENT_SECRET", self._client_secret),
                ("EXACT_REDIRECT_URI", self.redirect_uri),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"missing configuration: {', '.join(missing)}", variable=missing[0])
        assert self.client_id is not None
        assert self._client_secret is not None
        assert self.redirect_uri is not None
        return self.base_url, self.client_id, self._client_secret, self.redirect_uri

    def endpoint(self) -> OAuthEndpoint:
        """The blocking token-endpoint shell (built on first use)."""
        if self.read_only:
            raise ReadOnlyRefreshRefused()
        if self._endpoint is None:
            self._endpoint = OAuthEndpoint(
                *self._endpoint_args(),
                http_client=self._http,
                clock=self.clock,
                timeout=self.timeout,
                writer=self.writer,
            )
        return self._endpoint

    def _async_endpoint(self) -> AsyncOAuthEndpoint:
        # A fresh endpoint per refresh (unless a client was given): an AsyncClient is bound to one event loop,
        # and refreshes are rare.
        if self.read_only:
            raise ReadOnlyRefreshRefused()
        return AsyncOAuthEndpoint(
            *self._endpoint_args(),
            http_client=self._async_http,
            clock=self.clock,
            timeout=self.timeout,
            writer=self.writer,
        )

    # -- authorization-code flow ------------------------------------------------------------------------------
    def authorization_url(self, *, state: str | None = None, force_login: bool = False) -> str:
        """The browser URL; a random ``state`` is generated (kept in ``pending_state``) unless given."""
        endpoint = self.endpoint()
        self.pending_state = state or secrets.token_urlsafe(24)
        return endpoint.authorization_url(self.pending_state, force_login=force_login)

    def complete_authorization(self, callback: str, *, state: str | None = None) -> Token:
        """Verify the callback's ``state``, exchange its code and store the token. Returns the stored token.

        ``callback`` is the full callback URL (or its query). ``state`` defaults to :attr:`pending_state`.
        """
        code, received = parse_callback(callback)
        verify_state(state or self.pending_state, received)
        self.pending_state = None
        return self.exchange_code(code)

    def exchange_code(self, code: str) -> Token:
        """Exchange an authorization code and store the result (generation 1 for an empty store)."""
        if self.read_only:
            raise ReadOnlyRefreshRefused()
        token = self.endpoint().exchange_code(code)
        return self._store_login(token)

    def _store_login(self, token: Token) -> Token:
        # Keep generations increasing across re-logins, so readers taking the highest one see the new login.
        current = self.storage.load()  # an unreadable store raises: a login never silently replaces it
        token = token.replace(generation=current.generation + 1 if current else 1)
        self.storage.save(token, expected_generation=current.generation if current else None)
        self._cached = token
        self._unknown_generation = None
        return token

    # -- refresh policy ---------------------------------------------------------------------------------------
    def refresh_due_at(self, token: Token) -> float:
        """The earliest time this instance refreshes ``token`` (Exact's 570 s rule plus the skew margin)."""
        return token.issued_at + self.min_refresh_age + self.skew_margin

    def _fresh_enough(self, token: Token, now: float) -> bool:
        if now < self.refresh_due_at(token):
            return True
        # After a too-early refusal, keep the still-valid token for a while instead of asking again.
        return now < self._not_before and token.expires_in(now) > 0

    def _load(self) -> Token:
        token = self.storage.load()
        if token is None:
            raise TokenUnavailable("no token is stored yet")
        self._cached = token
        return token

    def get_token(self) -> Token:
        """A token, refreshed first when it is due (blocking)."""
        self._flush_pending_save()
        token = self._cached
        if token is None:
            token = self._load()
        if self._fresh_enough(token, self.clock.now()):
            return token
        if isinstance(self.storage, ReadOnlyTokenStorage):
            self._cached = self.storage.fresh_token()
            return self._cached
        if self.read_only:
            return self._load()
        return self._refresh(force=False, retry_unknown=False)

    def refresh(self, *, force: bool = False, retry_unknown: bool = False) -> Token:
        """Refresh now if due. ``force``: even if not due; Exact's refusal then raises TooEarlyToRefresh.

        ``retry_unknown`` resends a refresh token whose earlier refresh timed out (see RefreshOutcomeUnknown).
        """
        if self.read_only:
            raise ReadOnlyRefreshRefused()
        return self._refresh(force=force, retry_unknown=retry_unknown)

    def _refresh(self, *, force: bool, retry_unknown: bool) -> Token:
        if not self._lock.acquire(timeout=self.lock_timeout):
            raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another thread's refresh")
        try:
            current = self._load()
            if not force and self._fresh_enough(current, self.clock.now()):
                return current  # another thread rotated it while we waited
            plock = self._process_lock()
            if plock is not None and not plock.acquire(self.lock_timeout):
                raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another process's refresh")
            try:
                current = self._load()
                if not force and self._fresh_enough(current, self.clock.now()):
                    return current  # another process rotated it
                kept = self._check_unknown(current, retry_unknown)
                if kept is not None:
                    return kept
                try:
                    new = self.endpoint().refresh(current)
                except RefreshOutcomeUnknown:
                    return self._after_unknown(current)
                except TooEarlyToRefresh:
                    if force:
                        raise
                    return self._after_too_early(current)
                return self._persist(current, new)
            finally:
                if plock is not None:
                    plock.release()
        finally:
            self._lock.release()

    def _process_lock(self) -> RefreshLock | None:
        return self.storage.refresh_lock() if isinstance(self.storage, RefreshLocking) else None

    def _check_unknown(self, current: Token, retry_unknown: bool) -> Token | None:
        """After a timed-out refresh of this generation: its token while still valid, then the typed error."""
        if self._unknown_generation == current.generation and not retry_unknown:
            if current.expires_in(self.clock.now()) > 0:
                return current
            raise RefreshOutcomeUnknown(
                f"an earlier refresh of generation {current.generation} timed out; not resending it",
                generation=current.generation,
            )
        self._unknown_generation = None
        return None

    def _after_unknown(self, current: Token) -> Token:
        self._unknown_generation = current.generation
        after = self.storage.load()
        if after is not None and after.generation > current.generation:
            self._unknown_generation = None
            self._cached = after
            return after
        log.error("refresh of generation %d timed out; the stored token is kept and not resent", current.generation)
        raise RefreshOutcomeUnknown(generation=current.generation)

    def _after_too_early(self, current: Token) -> Token:
        now = self.clock.now()
        if current.expires_in(now) <= 0:
            raise TooEarlyToRefresh(
                "Exact refused the refresh as too early although the stored token has expired: check the local clock"
            )
        log.warning("Exact refused the refresh as too early; keeping the current token (clock skew?)")
        self._not_before = now + self.too_early_backoff
        return current

    def _persist(self, current: Token, new: Token) -> Token:
        # The old refresh token is dead from now on: the new pair must reach the store, or nothing works later.
        for attempt in range(3):
            try:
                self.storage.save(new, expected_generation=current.generation)
            except GenerationConflict:
                log.error("another writer stored a token while this refresh ran; keeping the stored one")
                self._cached = None
                raise
            except TokenStoreError:
                if attempt == 2:
                    self._pending_save = self._cached = new
                    log.error("could not store the rotated token (generation %d); will retry", new.generation)
                    raise
                time.sleep(0.05 * (attempt + 1))
            else:
                self._pending_save = None
                self._cached = new
                return new
        raise AssertionError("unreachable")  # pragma: no cover

    def _flush_pending_save(self) -> None:
        pending = self._pending_save
        if pending is None:
            return
        with self._lock:
            if self._pending_save is pending:
                self.storage.save(pending, expected_generation=pending.generation - 1)
                self._pending_save = None

    # -- TokenSource ------------------------------------------------------------------------------------------
    def get_access_token(self) -> str:
        """The access token to send (refreshing first when due)."""
        return self.get_token().access_token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Exact answered 401: re-read the store once; a different valid token is returned, else None."""
        try:
            token = self.storage.load()
        except TokenStoreError:
            log.exception("re-reading the token store after a 401 failed")
            return None
        return self._other_token(token, rejected_token)

    def _other_token(self, token: Token | None, rejected: str) -> str | None:
        if token is None or token.access_token == rejected or token.expires_in(self.clock.now()) <= 0:
            log.warning("a 401 from Exact and the store holds no other valid token")
            return None
        self._cached = token
        return token.access_token

    # -- AsyncTokenSource -------------------------------------------------------------------------------------
    async def aget_token(self) -> Token:
        """The asyncio form of :meth:`get_token`."""
        if self._pending_save is not None:
            await asyncio.to_thread(self._flush_pending_save)
        token = self._cached
        if token is None:
            token = await asyncio.to_thread(self._load)
        if self._fresh_enough(token, self.clock.now()):
            return token
        if isinstance(self.storage, ReadOnlyTokenStorage):
            self._cached = await self.storage.afresh_token()
            return self._cached
        if self.read_only:
            return await asyncio.to_thread(self._load)
        return await self._arefresh(force=False, retry_unknown=False)

    async def arefresh(self, *, force: bool = False, retry_unknown: bool = False) -> Token:
        """The asyncio form of :meth:`refresh`."""
        if self.read_only:
            raise ReadOnlyRefreshRefused()
        return await self._arefresh(force=force, retry_unknown=retry_unknown)

    async def _arefresh(self, *, force: bool, retry_unknown: bool) -> Token:
        if not await _apoll_acquire(self._lock.acquire, self.lock_timeout):
            raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another refresh")
        try:
            current = await asyncio.to_thread(self._load)
            if not force and self._fresh_enough(current, self.clock.now()):
                return current
            plock = self._process_lock()
            if plock is not None and not await _apoll_acquire(_try(plock), self.lock_timeout):
                raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another process's refresh")
            try:
                current = await asyncio.to_thread(self._load)
                if not force and self._fresh_enough(current, self.clock.now()):
                    return current
                kept = self._check_unknown(current, retry_unknown)
                if kept is not None:
                    return kept
                endpoint = self._async_endpoint()
                try:
                    new = await endpoint.refresh(current)
                except RefreshOutcomeUnknown:
                    return await asyncio.to_thread(self._after_unknown, current)
                except TooEarlyToRefresh:
                    if force:
                        raise
                    return self._after_too_early(current)
                finally:
                    await endpoint.aclose()
                return await asyncio.to_thread(self._persist, current, new)
            finally:
                if plock is not None:
                    plock.release()
        finally:
            self._lock.release()

    async def aget_access_token(self) -> str:
        """The access token to send (refreshing first when due)."""
        return (await self.aget_token()).access_token

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        """The asyncio form of :meth:`on_unauthorized`."""
        try:
            token = await asyncio.to_thread(self.storage.load)
        except TokenStoreError:
            log.exception("re-reading the token store after a 401 failed")
            return None
        return self._other_token(token, rejected_token)

    def close(self) -> None:
        """Close the HTTP client this instance created."""
        if self._endpoint is not None:
            self._endpoint.close()


def _try(lock: RefreshLock) -> Any:
    return lambda blocking=False: lock.acquire(0.0)


async def _apoll_acquire(try_acquire: Any, wait: float) -> bool:
    """Take a thread or file lock from a coroutine without blocking the event loop (any loop, any thread)."""
    deadline = time.monotonic() + wait
    delay = 0.0005
    while not try_acquire(blocking=False):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True
