"""Read-only tokens for workers (Prefect on ECS, Lambda handlers): read the slots, never the token endpoint.

:class:`SecretsManagerTokenProvider` is the one read-only token source
(:class:`~exact_online_sdk.auth.readonly.ReadOnlyTokenStorage`) over the Secrets Manager slots: same caching,
polling, numbers and error (:class:`~exact_online_sdk.auth.errors.TokenUnavailable`) as over any other store.
:func:`worker_client` is the one-line worker client (``ExactOnlineClient.from_secrets_manager`` is its alias).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..auth.readonly import ReadOnlyTokenStorage, ReadPolicy
from ..clock import Clock
from .slots import SecretsManagerTokenStorage

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ..client import AsyncExactOnlineClient, ExactOnlineClient
    from ..config import Settings

__all__ = ["SecretsManagerTokenProvider", "worker_client", "worker_token_provider"]

logger = logging.getLogger("exact_online_sdk.aws.worker")


class SecretsManagerTokenProvider(ReadOnlyTokenStorage):
    """The read-only token source over :class:`SecretsManagerTokenStorage` (thread-safe; sync and async)."""

    def __init__(self, store: SecretsManagerTokenStorage, *, clock: Clock | None = None, **policy: float) -> None:
        super().__init__(store, clock=clock, **policy)
        self.store = store


def worker_token_provider(
    secret_name: str | None = None,
    *,
    slots: tuple[str, str] | None = None,
    region_name: str | None = None,
    secrets_client: SecretsManagerClient | None = None,
    endpoint_url: str | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    min_validity: float = ReadPolicy.min_validity,
    poll_timeout: float = ReadPolicy.poll_timeout,
) -> SecretsManagerTokenProvider:
    """The read-only token source over the slots. With neither ``secret_name`` (the name prefix: secrets
    ``{name}-a``/``{name}-b``) nor ``slots`` the slots come from ``settings`` (default: the environment's
    ``EXACT_TOKEN_SECRET_A``/``_B`` or the prefix ``EXACT_TOKEN_SECRET``)."""
    store_kwargs: dict[str, Any] = {
        "region_name": region_name,
        "client": secrets_client,
        "endpoint_url": endpoint_url,
        "clock": clock,
    }
    if secret_name is None and slots is None:
        store = SecretsManagerTokenStorage.from_settings(settings, **store_kwargs)
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
    min_validity: float = ReadPolicy.min_validity,
    poll_timeout: float = ReadPolicy.poll_timeout,
    client_class: type[ExactOnlineClient] | type[AsyncExactOnlineClient] | None = None,
    **client_kwargs: Any,
) -> Any:
    """One line for a worker: a client whose token is read (never refreshed) from the refresher's slots.

    Slots as in :func:`worker_token_provider`; ``client_kwargs`` go to the client (``division=``, ``base_url=``,
    ``clock=``, ``settings=``...). ``client_class`` picks :class:`~exact_online_sdk.AsyncExactOnlineClient`
    (default: the blocking client). ``ExactOnlineClient.from_secrets_manager(...)`` is the same function.
    """
    from ..client import ExactOnlineClient

    cls = client_class or ExactOnlineClient
    provider = worker_token_provider(
        secret_name,
        slots=slots,
        region_name=region_name,
        secrets_client=secrets_client,
        endpoint_url=endpoint_url,
        clock=client_kwargs.get("clock"),
        settings=client_kwargs.get("settings"),
        min_validity=min_validity,
        poll_timeout=poll_timeout,
    )
    return cls(**{**client_kwargs, "auth": provider})
