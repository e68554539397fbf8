"""Read-only tokens for workers (Prefect on ECS, Lambda handlers): read the slots, never the token endpoint.

:class:`SecretsManagerTokenProvider` is a :class:`~exact_online_sdk._core.credentials.TokenSource` (and its async
form). It serves the cached token while it has more than ``min_validity`` seconds left (the store's cache is
bounded by the token's life); near expiry it forces a re-read, then polls with backoff for the refresher's next
generation for at most ``poll_timeout`` seconds and raises :class:`~exact_online_sdk.auth.errors.TokenUnavailable`.
On a 401 it re-reads once and offers a different token, or gives up (the client never loops).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..auth.errors import TokenUnavailable
from ..auth.store import TokenStoreError
from ..auth.token import Token
from ..clock import Clock, SystemClock
from .slots import SecretsManagerTokenStorage

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ..client import ExactOnlineClient

__all__ = ["SecretsManagerTokenProvider", "worker_client", "worker_token_provider"]

logger = logging.getLogger("exact_online_sdk.aws.worker")


class SecretsManagerTokenProvider:
    """A read-only token source over :class:`SecretsManagerTokenStorage` (thread-safe; sync and async)."""

    def __init__(
        self,
        store: SecretsManagerTokenStorage,
        *,
        clock: Clock | None = None,
        min_validity: float = 15.0,
        poll_timeout: float = 90.0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 8.0,
    ) -> None:
        if min_validity < 0 or poll_timeout < 0 or poll_interval <= 0:
            raise ValueError("min_validity and poll_timeout must be >= 0 and poll_interval > 0")
        self.store = store
        self._clock: Clock = clock or SystemClock()
        self.min_validity = min_validity
        self.poll_timeout = poll_timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self._poll_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretsManagerTokenProvider({self.store!r})"

    def _usable(self, token: Token | None) -> bool:
        return token is not None and token.expires_in(self._clock.now()) > self.min_validity

    def _load(self, *, fresh: bool) -> Token | None:
        try:
            return self.store.load(fresh=fresh)
        except TokenStoreError as exc:
            raise TokenUnavailable(f"cannot read the token store: {exc}") from exc

    def token(self) -> Token:
        """A token with more than ``min_validity`` seconds left, waiting (bounded) for the next generation."""
        token = self._load(fresh=False)
        if self._usable(token):
            assert token is not None
            return token
        # One poller per process: the other threads find its result in the store's cache.
        with self._poll_lock:
            token = self._load(fresh=False)
            if self._usable(token):
                assert token is not None
                return token
            return self._poll(token)

    def _poll(self, stale: Token | None) -> Token:
        deadline = self._clock.now() + self.poll_timeout
        delay = self.poll_interval
        while True:
            token = self._load(fresh=True)
            if self._usable(token):
                assert token is not None
                return token
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                break
            self._clock.sleep(min(delay, remaining))
            delay = min(delay * 2, self.max_poll_interval)
        if token is None:
            raise TokenUnavailable("no token is stored in the secrets: run the bootstrap (exact-online auth login)")
        logger.error(
            "no fresh token after %.0fs (generation %d has %.0fs left)",
            self.poll_timeout,
            token.generation,
            token.expires_in(self._clock.now()),
        )
        raise TokenUnavailable(
            f"the stored token (generation {token.generation}) is expiring and no newer one appeared within "
            f"{self.poll_timeout:.0f}s: check that the token refresher is running"
        )

    # -- TokenSource / AsyncTokenSource ------------------------------------------------------------------------
    def get_access_token(self) -> str:
        """The access token to send (see :meth:`token`)."""
        return self.token().access_token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Exact refused ``rejected_token``: re-read once; a different, unexpired token or None (no loop)."""
        try:
            token = self._load(fresh=True)
        except TokenUnavailable:
            return None
        if token is None or token.access_token == rejected_token or token.expires_in(self._clock.now()) <= 0:
            return None
        return token.access_token

    async def aget_access_token(self) -> str:
        import asyncio

        # boto3 is blocking: keep the event loop free.
        return await asyncio.to_thread(self.get_access_token)

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        import asyncio

        return await asyncio.to_thread(self.on_unauthorized, rejected_token)


def worker_token_provider(
    secret_name: str | None = None,
    *,
    slots: tuple[str, str] | None = None,
    region_name: str | None = None,
    secrets_client: SecretsManagerClient | None = None,
    endpoint_url: str | None = None,
    clock: Clock | None = None,
    min_validity: float = 15.0,
    poll_timeout: float = 90.0,
) -> SecretsManagerTokenProvider:
    """The read-only token source over the slots. With neither ``secret_name`` (the name prefix: secrets
    ``{name}-a``/``{name}-b``) nor ``slots`` the slots come from ``EXACT_TOKEN_SECRET_A``/``_B`` (or the prefix
    ``EXACT_TOKEN_SECRET``)."""
    store_kwargs: dict[str, Any] = {
        "region_name": region_name,
        "client": secrets_client,
        "endpoint_url": endpoint_url,
        "clock": clock,
    }
    if secret_name is None and slots is None:
        store = SecretsManagerTokenStorage.from_env(**store_kwargs)
    else:
        store = SecretsManagerTokenStorage(secret_name, slots=slots, **store_kwargs)
    return SecretsManagerTokenProvider(store, clock=clock, min_validity=min_validity, poll_timeout=poll_timeout)


def worker_client(
    secret_name: str | None = None,
    *,
    slots: tuple[str, str] | None = None,
    region_name: str | None = None,
    secrets_client: SecretsManagerClient | None = None,
    endpoint_url: str | None = None,
    clock: Clock | None = None,
    min_validity: float = 15.0,
    poll_timeout: float = 90.0,
    **client_kwargs: Any,
) -> ExactOnlineClient:
    """One line for a worker: an :class:`ExactOnlineClient` whose token is read (never refreshed) from the slots.

    Slots as in :func:`worker_token_provider`; ``client_kwargs`` go to the client (``division=``, ``base_url=``...).
    Same as ``ExactOnlineClient.from_secrets_manager(...)``.
    """
    from ..client import ExactOnlineClient

    return ExactOnlineClient.from_secrets_manager(
        secret_name,
        slots=slots,
        region_name=region_name,
        secrets_client=secrets_client,
        endpoint_url=endpoint_url,
        clock=clock,
        min_validity=min_validity,
        poll_timeout=poll_timeout,
        **client_kwargs,
    )
