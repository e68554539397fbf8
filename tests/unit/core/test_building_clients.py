"""The documented ways to build a client: one set of options, settings as the one configuration source."""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, Settings
from exact_online_sdk.client import ClientOptions
from exact_online_sdk.config import DEFAULT_BASE_URL
from exact_online_sdk.exceptions import AuthenticationError

from .conftest import DIVISION, FakeExact


@pytest.fixture(autouse=True)
def _no_exact_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("EXACT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _seen_tokens(exact: FakeExact) -> list[str]:
    return [r.headers["Authorization"] for r in exact.requests]


def test_the_seed_form_takes_the_token_from_settings(exact: FakeExact, monkeypatch: pytest.MonkeyPatch) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "env-token-123456")
    monkeypatch.setenv("EXACT_DIVISION", str(DIVISION))
    settings = Settings.from_env()
    with ExactOnlineClient(settings=settings, transport=httpx.MockTransport(exact), clock=exact.clock) as client:
        assert client.get("crm/Accounts", params={"$top": 10}) == []
    assert _seen_tokens(exact) == ["Bearer env-token-123456"]
    assert str(exact.requests[0].url).startswith(f"{DEFAULT_BASE_URL}/api/v1/{DIVISION}/crm/Accounts")


def test_keyword_options_override_settings(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    settings = Settings(access_token="settings-token-1", division=5, user_agent="from-settings/1")
    with ExactOnlineClient(
        settings,
        access_token="option-token-2",
        division=DIVISION,
        user_agent="from-option/2",
        transport=httpx.MockTransport(exact),
        clock=exact.clock,
    ) as client:
        client.get("crm/Accounts")
    request = exact.requests[0]
    assert request.headers["Authorization"] == "Bearer option-token-2"
    assert request.headers["User-Agent"] == "from-option/2"
    assert f"/api/v1/{DIVISION}/" in str(request.url)


def test_an_explicit_token_source_wins_over_settings(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})

    class Source:
        def get_access_token(self) -> str:
            return "source-token"

        def on_unauthorized(self, rejected_token: str) -> str | None:
            return None

    settings = Settings(access_token="settings-token-1", division=DIVISION)
    with ExactOnlineClient(settings, auth=Source(), transport=httpx.MockTransport(exact), clock=exact.clock) as c:
        c.get("crm/Accounts")
    assert _seen_tokens(exact) == ["Bearer source-token"]


def test_the_token_file_of_auth_login_is_the_settings_token_source(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from exact_online_sdk.auth import ExactOnlineAuth
    from exact_online_sdk.auth.file import generate_key

    settings = Settings(token_path=tmp_path / "token.bin", encryption_key=generate_key(), base_url="http://127.0.0.1:9")
    client = ExactOnlineClient(settings=settings)
    assert isinstance(client._auth, ExactOnlineAuth)
    assert client._auth.base_url == "http://127.0.0.1:9"
    client.close()


def test_without_any_token_the_first_call_says_how_to_give_one(
    exact: FakeExact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "")  # an empty variable is "not set", as in a shell script
    settings = Settings(division=DIVISION)
    assert settings.access_token is None
    client = ExactOnlineClient(settings=settings, transport=httpx.MockTransport(exact))
    with pytest.raises(AuthenticationError, match="no credentials"):
        client.get("crm/Accounts")
    assert exact.requests == []


def test_a_misspelt_option_is_refused_not_ignored() -> None:
    with pytest.raises(TypeError, match="'divison'"):
        ExactOnlineClient(access_token="t", divison=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'base'"):
        AsyncExactOnlineClient(access_token="t", base="https://x")  # type: ignore[call-arg]


def test_both_clients_take_the_one_option_definition() -> None:
    # The options are written once (ClientOptions); each shell adds only its own HTTP and token-source types.
    for cls in (ExactOnlineClient, AsyncExactOnlineClient):
        params = inspect.signature(cls.__init__).parameters
        assert list(params) == ["self", "settings", "auth", "http_client", "transport", "options"]
        assert params["options"].kind is inspect.Parameter.VAR_KEYWORD
    assert set(ClientOptions.__optional_keys__) == {
        "access_token",
        "division",
        "base_url",
        "clock",
        "retry",
        "user_agent",
        "language",
        "client_id",
        "timeout",
        "budget",
        "budgets",
        "max_response_bytes",
    }


def test_the_default_host_is_the_one_of_config() -> None:
    client = ExactOnlineClient(access_token="t")
    assert client.base_url == DEFAULT_BASE_URL == Settings().host
    client.close()


def test_async_client_takes_the_token_from_settings_too(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    settings = Settings(access_token="settings-token-9", division=DIVISION)

    async def main() -> None:
        async with AsyncExactOnlineClient(
            settings=settings, transport=httpx.MockTransport(exact), clock=exact.clock
        ) as client:
            await client.get("crm/Accounts")

    asyncio.run(main())
    assert _seen_tokens(exact) == ["Bearer settings-token-9"]
