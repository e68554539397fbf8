"""``ExactOnlineAuth``: the authorization-code flow and a token source that refreshes inside Exact's rules.

Rules it keeps (FACTS §1.3; the decisions are :func:`~.refresh_flow.refresh_flow`, driven here by a blocking and
an asyncio shell):
- Refresh only when the token is at least ``min_refresh_age`` (570 s) + ``skew_margin`` old on **Exact's clock**
  (:class:`~.timebase.ServerClock`, measured from every token answer's ``Date``). Earlier calls get the stored token.
- Single flight: one ``threading.Lock`` per instance serializes refreshes of every thread and asyncio task
  (async callers poll it, so it works with any event loop); the store's :class:`~.store.RefreshLocking`
  lock serializes processes. After taking the locks the store is re-read, and the refresh is skipped when
  another thread or process already rotated the token.
- A refresh whose answer was lost is resent with the same refresh token exactly once; if that is lost too,
  :class:`~.errors.RefreshOutcomeUnknown` is raised and the stored access token is handed out until it expires.
- A 401 from the API: re-read the store once; another token is returned for one retry, else None.
- A store it cannot write (``read_only``: a worker's, or the Secrets Manager slots unless built as the writer) is
  never refreshed: this instance then reads through the one read-only source
  (:class:`~.readonly.ReadOnlyTokenStorage`), and an explicit refresh is refused before any call to Exact.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ..clock import Clock
from ..config import DEFAULT_BASE_URL
from ..exceptions import ConfigError
from ._locks import apoll_acquire
from .errors import ReadOnlyRefreshRefused, TokenUnavailable
from .memory import MemoryTokenStorage
from .oauth import DEFAULT_TIMEOUT, AsyncOAuthEndpoint, OAuthEndpoint, parse_callback, verify_state
from .readonly import ReadOnlyTokenStorage
from .refresh_flow import (
    CallExact,
    LoadStored,
    Pause,
    RefreshAction,
    RefreshMemory,
    RefreshPolicy,
    SaveToken,
    fresh_enough,
    refresh_due_at,
    refresh_flow,
)
from .store import RefreshLock, RefreshLocking, TokenStore, TokenStoreError
from .timebase import ServerClock, as_server_clock
from .token import Token, new_chain_id, utc_day

if TYPE_CHECKING:
    from .._core.credentials import TokenSource
    from ..config import Settings

__all__ = ["EXACT_MIN_REFRESH_AGE", "ExactOnlineAuth", "default_storage", "token_source_from_settings"]

log = logging.getLogger("exact_online_sdk.auth.manager")

EXACT_MIN_REFRESH_AGE = 570.0
"""Exact refuses a refresh less than 570 s after the current access token was issued."""

T = TypeVar("T")


def default_storage(settings: Settings | None) -> TokenStore:
    """The store the settings name: the encrypted file (``EXACT_TOKEN_PATH``), else the Secrets Manager slots
    (``EXACT_TOKEN_SECRET_A``/``_B`` or ``EXACT_TOKEN_SECRET``; read-only: only the refresher writes them), else
    an in-memory store."""
    if settings is not None and settings.token_path:
        from .file import EncryptedFileTokenStorage

        return EncryptedFileTokenStorage.from_settings(settings)
    if settings is not None and (settings.token_secret or (settings.token_secret_a and settings.token_secret_b)):
        from ..aws.slots import SecretsManagerTokenStorage

        return SecretsManagerTokenStorage.from_settings(settings)
    return MemoryTokenStorage()


def token_source_from_settings(
    settings: Settings, *, clock: Clock | None = None, base_url: str | None = None
) -> TokenSource | None:
    """What ``ExactOnlineClient(settings=settings)`` authenticates with when given neither ``auth`` nor
    ``access_token``: ``EXACT_ACCESS_TOKEN`` as is; else the token store a login wrote (the encrypted file,
    refreshed inside Exact's rules, or the Secrets Manager slots, read-only); else None."""
    if settings.access_token is not None:
        from .._core.credentials import StaticToken
        from .._core.redact import register_secret

        value = settings.access_token.get_secret_value()
        register_secret(value)
        return StaticToken(value)
    configured = settings.token_path or settings.token_secret or (settings.token_secret_a and settings.token_secret_b)
    if not configured:
        return None
    return ExactOnlineAuth(settings, clock=clock, base_url=base_url)


class ExactOnlineAuth:
    """OAuth2 for one Exact app and user: login URL, code exchange, and a refreshing token source.

    ``settings`` (:class:`~exact_online_sdk.config.Settings`) gives client_id, client_secret, redirect_uri,
    base_url, timeout and the token store; keyword arguments override it. ``storage`` defaults to
    :func:`default_storage`. Implements ``TokenSource`` and ``AsyncTokenSource``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
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
        secret = settings.client_secret.get_secret_value() if settings and settings.client_secret else None
        self.client_id = client_id or (settings.client_id if settings else None)
        self._client_secret = client_secret or secret
        self.redirect_uri = redirect_uri or (settings.redirect_uri if settings else None)
        self.base_url = base_url or (settings.host if settings else None) or DEFAULT_BASE_URL
        self.timeout = float(timeout or (settings.timeout if settings else None) or DEFAULT_TIMEOUT)
        self.storage: TokenStore = storage if storage is not None else default_storage(settings)
        self.clock: ServerClock = as_server_clock(clock)
        self.policy = RefreshPolicy(
            min_refresh_age=min_refresh_age, skew_margin=skew_margin, too_early_backoff=too_early_backoff
        )
        self.lock_timeout = lock_timeout
        self.writer = writer or f"{socket.gethostname()}:{os.getpid()}"
        self._http = http_client
        self._async_http = async_http_client
        self._endpoint: OAuthEndpoint | None = None
        self._lock = threading.Lock()  # single flight for threads and asyncio tasks alike
        self._cached: Token | None = None
        self._memory = RefreshMemory(writer=self.writer)
        self._reader: ReadOnlyTokenStorage | None = None
        if self.read_only:
            store = self.storage
            self._reader = (
                store if isinstance(store, ReadOnlyTokenStorage) else ReadOnlyTokenStorage(store, clock=self.clock)
            )
        self.pending_state: str | None = None

    def __repr__(self) -> str:
        return f"ExactOnlineAuth(base_url={self.base_url!r}, client_id={self.client_id!r}, storage={self.storage!r})"

    # -- configuration ----------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True when the store refuses writes (a worker): this instance then never calls the token endpoint."""
        return bool(getattr(self.storage, "read_only", False))

    @property
    def min_refresh_age(self) -> float:
        return self.policy.min_refresh_age

    @property
    def skew_margin(self) -> float:
        return self.policy.skew_margin

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

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ReadOnlyRefreshRefused(
                f"{self.storage!r} cannot be written, so this token source never calls Exact's token endpoint "
                "(a rotated token it could not store would break the chain)"
            )

    def endpoint(self) -> OAuthEndpoint:
        """The blocking token-endpoint shell (built on first use)."""
        self._refuse_if_read_only()
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
        self._refuse_if_read_only()
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
        self._refuse_if_read_only()
        token = self.endpoint().exchange_code(code)
        return self._store_login(token)

    def _store_login(self, token: Token) -> Token:
        # Keep generations increasing across re-logins, so readers taking the highest one see the new login; a
        # consent starts a new chain.
        current = self.storage.load()  # an unreadable store raises: a login never silently replaces it
        now = self.clock.now()
        day = utc_day(now)
        token = token.replace(
            generation=current.generation + 1 if current else 1,
            chain_id=new_chain_id(),
            calls_day=day,
            calls_today=(current.calls_on(day) if current else 0) + 1,
        )
        self.storage.save(token, expected_generation=current.generation if current else None)
        with self._lock:
            self._cached = token
            self._memory.unknown = None
            self._memory.refused = None
        return token

    # -- refresh policy ---------------------------------------------------------------------------------------
    def refresh_due_at(self, token: Token) -> float:
        """The earliest Exact time this instance refreshes ``token`` (Exact's 570 s rule plus the margin)."""
        return refresh_due_at(token, self.policy)

    def _load(self) -> Token:
        token = self.storage.load()
        if token is None:
            raise TokenUnavailable("no token is stored yet")
        self.clock.adopt(token.clock_offset)
        self._cached = token
        return token

    def get_token(self) -> Token:
        """A token, refreshed first when it is due (blocking)."""
        if self._reader is not None:
            self._cached = self._reader.fresh_token()
            return self._cached
        self._flush_pending_save()
        token = self._cached if self._cached is not None else self._load()
        if fresh_enough(token, self.clock.now(), self.policy, self._memory):
            return token
        return self._refresh(force=False, retry_unknown=False)

    def refresh(self, *, force: bool = False, retry_unknown: bool = False) -> Token:
        """Refresh now if due. ``force``: even if not due; Exact's refusal then raises TooEarlyToRefresh.

        ``retry_unknown`` resends a refresh token whose refresh got no answer twice (see RefreshOutcomeUnknown).
        """
        self._refuse_if_read_only()
        return self._refresh(force=force, retry_unknown=retry_unknown)

    def _process_lock(self) -> RefreshLock | None:
        return self.storage.refresh_lock() if isinstance(self.storage, RefreshLocking) else None

    def _flow(self, *, force: bool, retry_unknown: bool) -> Generator[RefreshAction, Any, Token]:
        return refresh_flow(self._memory, self.clock, self.policy, force=force, retry_unknown=retry_unknown)

    def _refresh(self, *, force: bool, retry_unknown: bool) -> Token:
        if not self._lock.acquire(timeout=self.lock_timeout):
            raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another thread's refresh")
        try:
            plock = self._process_lock()
            if plock is not None and not plock.acquire(self.lock_timeout):
                raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another process's refresh")
            try:
                token = _drive(self._flow(force=force, retry_unknown=retry_unknown), self._perform)
            finally:
                if plock is not None:
                    plock.release()
            self._cached = token
            return token
        finally:
            self._lock.release()

    def _perform(self, action: RefreshAction) -> Any:
        if isinstance(action, LoadStored):
            return self.storage.load()
        if isinstance(action, CallExact):
            return self.endpoint().refresh_answer(action.token)
        if isinstance(action, SaveToken):
            self.storage.save(action.token, expected_generation=action.expected)
            self._cached = action.token
            return None
        self.clock.sleep(action.seconds)
        return None

    def _flush_pending_save(self) -> None:
        pending = self._memory.pending_save
        if pending is None:
            return
        with self._lock:
            if self._memory.pending_save is pending:
                self.storage.save(pending, expected_generation=pending.generation - 1)
                self._memory.pending_save = None
                self._cached = pending

    # -- TokenSource ------------------------------------------------------------------------------------------
    def get_access_token(self) -> str:
        """The access token to send (refreshing first when due)."""
        return self.get_token().access_token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Exact answered 401: re-read the store once; a different valid token is returned, else None."""
        if self._reader is not None:
            return self._reader.on_unauthorized(rejected_token)
        try:
            token = self.storage.load()
        except TokenStoreError:
            log.exception("re-reading the token store after a 401 failed")
            return None
        return self._other_token(token, rejected_token)

    def _other_token(self, token: Token | None, rejected: str) -> str | None:
        if token is not None:
            self.clock.adopt(token.clock_offset)
        if token is None or token.access_token == rejected or token.expires_in(self.clock.now()) <= 0:
            log.warning("a 401 from Exact and the store holds no other valid token")
            return None
        self._cached = token
        return token.access_token

    # -- AsyncTokenSource -------------------------------------------------------------------------------------
    async def aget_token(self) -> Token:
        """The asyncio form of :meth:`get_token`."""
        if self._reader is not None:
            self._cached = await self._reader.afresh_token()
            return self._cached
        if self._memory.pending_save is not None:
            await asyncio.to_thread(self._flush_pending_save)
        token = self._cached if self._cached is not None else await asyncio.to_thread(self._load)
        if fresh_enough(token, self.clock.now(), self.policy, self._memory):
            return token
        return await self._arefresh(force=False, retry_unknown=False)

    async def arefresh(self, *, force: bool = False, retry_unknown: bool = False) -> Token:
        """The asyncio form of :meth:`refresh`."""
        self._refuse_if_read_only()
        return await self._arefresh(force=force, retry_unknown=retry_unknown)

    async def _arefresh(self, *, force: bool, retry_unknown: bool) -> Token:
        if not await apoll_acquire(lambda: self._lock.acquire(blocking=False), self.lock_timeout):
            raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another refresh")
        try:
            plock = self._process_lock()
            if plock is not None and not await apoll_acquire(lambda: plock.acquire(0.0), self.lock_timeout):
                raise TokenUnavailable(f"waited {self.lock_timeout:.0f} s for another process's refresh")
            endpoint: AsyncOAuthEndpoint | None = None
            try:
                flow = self._flow(force=force, retry_unknown=retry_unknown)
                action = next(flow)
                while True:
                    try:
                        if isinstance(action, CallExact):
                            endpoint = endpoint or self._async_endpoint()
                            result: Any = await endpoint.refresh_answer(action.token)
                        elif isinstance(action, Pause):
                            await self.clock.asleep(action.seconds)
                            result = None
                        else:
                            result = await asyncio.to_thread(self._perform, action)
                    except Exception as exc:  # the core decides; what it does not handle propagates
                        action = flow.throw(exc)
                        continue
                    action = flow.send(result)
            except StopIteration as stop:
                token: Token = stop.value
                self._cached = token
                return token
            finally:
                if endpoint is not None:
                    await endpoint.aclose()
                if plock is not None:
                    plock.release()
        finally:
            self._lock.release()

    async def aget_access_token(self) -> str:
        """The access token to send (refreshing first when due)."""
        return (await self.aget_token()).access_token

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        """The asyncio form of :meth:`on_unauthorized`."""
        if self._reader is not None:
            return await self._reader.aon_unauthorized(rejected_token)
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


def _drive(flow: Generator[RefreshAction, Any, T], perform: Any) -> T:
    """Run a sans-IO flow with a blocking ``perform``; errors of an action are thrown into the flow."""
    try:
        action = next(flow)
        while True:
            try:
                result = perform(action)
            except Exception as exc:  # the core decides; what it does not handle propagates
                action = flow.throw(exc)
                continue
            action = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value
