"""Clients share one TLS context: building one loads the CA bundle (tens of ms), more than the rest of a client."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from exact_online_sdk._core import tls
from exact_online_sdk.auth.oauth import AsyncOAuthEndpoint, OAuthEndpoint
from exact_online_sdk.client import AsyncExactOnlineClient, ExactOnlineClient


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    made: list[object] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]  # type: ignore[return-value]

    monkeypatch.setattr(ssl, "create_default_context", counting)  # what httpx calls to load the CA bundle
    tls.default_ssl_context.cache_clear()
    yield made
    tls.default_ssl_context.cache_clear()


def test_every_client_the_sdk_builds_verifies_with_one_context(built: list[object]) -> None:
    clients = [ExactOnlineClient(access_token="t", division=1) for _ in range(3)]
    aclient = AsyncExactOnlineClient(access_token="t", division=1)
    endpoint = ("https://start.exactonline.nl", "id", "s", "https://example.com/cb")
    oauth, aoauth = OAuthEndpoint(*endpoint), AsyncOAuthEndpoint(*endpoint)
    assert len(built) == 1
    for client in clients:
        client.close()
    oauth.close()

    async def close_async() -> None:
        await aclient.aclose()
        await aoauth.aclose()

    asyncio.run(close_async())
