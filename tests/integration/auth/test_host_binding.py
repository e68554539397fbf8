"""Issue 15.1: a token is refreshed at, and sent to, only the host that issued it; the CLI reads no stray .env.

Two emulators over real loopback HTTP: ``emu`` is Exact, ``attacker`` a host a planted ``EXACT_BASE_URL`` points
at. Nothing may reach the attacker: no access token, no refresh token, no client secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, Settings
from exact_online_sdk.auth import ExactOnlineAuth, ReadOnlyTokenStorage
from exact_online_sdk.auth.errors import TokenHostMismatch
from exact_online_sdk.cli import app
from exact_online_sdk.config import DEFAULT_BASE_URL
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import REDIRECT, login


@pytest.fixture
def attacker(clock) -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(clock=clock, token_daily_limit=None)) as handle:
        yield handle


def nothing_reached(host: EmulatorHandle) -> bool:
    return host.control.requests() == [] and host.control.counters().get("token_calls", 0) == 0


def settings_for(base_url: str, store_path: Path, key: str) -> Settings:
    return Settings(
        base_url=base_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        redirect_uri=REDIRECT,
        token_path=store_path,
        encryption_key=key,
        division=1001,
    )


def test_a_login_records_the_issuing_host(emu, make_auth, file_store):
    token = login(make_auth(file_store), emu)
    assert token.host == emu.base_url
    stored = file_store.load()
    assert stored is not None
    assert stored.host == emu.base_url


def test_a_client_configured_for_another_host_never_gets_the_token(emu, attacker, make_auth, file_store, key, clock):
    login(make_auth(file_store), emu)
    with ExactOnlineClient(settings=settings_for(attacker.base_url, file_store.path, key), clock=clock) as client:
        with pytest.raises(TokenHostMismatch) as info:
            client.get("current/Me")
        clock.advance(580)  # a refresh is due now: it must not go to the attacker either
        with pytest.raises(TokenHostMismatch):
            client.get("current/Me")
    assert (info.value.token_host, info.value.configured_host) == (emu.base_url, attacker.base_url)
    assert emu.base_url in str(info.value)
    assert attacker.base_url in str(info.value)
    assert nothing_reached(attacker)
    assert file_store.load().generation == 1  # nothing was refreshed anywhere


def test_a_refresh_is_never_sent_to_another_host(emu, attacker, make_auth, file_store, clock):
    login(make_auth(file_store), emu)
    clock.advance(580)
    elsewhere = ExactOnlineAuth(
        storage=file_store,
        base_url=attacker.base_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        redirect_uri=REDIRECT,
        clock=clock,
    )
    for attempt in (lambda: elsewhere.refresh(force=True), elsewhere.get_token):
        with pytest.raises(TokenHostMismatch, match="refusing to"):
            attempt()
    assert nothing_reached(attacker)
    # The same store still works at its own host.
    home = make_auth(file_store)
    assert home.get_token().generation == 2


def test_the_async_client_and_the_read_only_source_refuse_too(emu, attacker, make_auth, file_store, clock):
    login(make_auth(file_store), emu)
    reader = ReadOnlyTokenStorage(file_store, clock=clock)
    with (
        ExactOnlineClient(base_url=attacker.base_url, auth=reader, clock=clock, division=1001) as client,
        pytest.raises(TokenHostMismatch),
    ):
        client.get("current/Me")

    async def read_async() -> None:
        async with AsyncExactOnlineClient(base_url=attacker.base_url, auth=reader, clock=clock, division=1001) as ac:
            await ac.get("current/Me")

    with pytest.raises(TokenHostMismatch):
        asyncio.run(read_async())
    assert nothing_reached(attacker)
    with ExactOnlineClient(base_url=emu.base_url, auth=reader, clock=clock, division=1001) as client:
        assert client.get("current/Me")  # the reader is now bound to the right host and serves


def test_a_state_without_host_is_bound_on_first_use(emu, attacker, make_auth, file_store, clock):
    token = login(make_auth(file_store), emu)
    legacy = token.replace(host="", generation=2)  # as written before host binding existed
    file_store.save(legacy, expected_generation=1)
    auth = make_auth(file_store)
    assert auth.get_token().host == ""  # the configured host may use it
    clock.advance(580)
    refreshed = auth.get_token()
    assert (refreshed.generation, refreshed.host) == (3, emu.base_url)  # the refresh recorded the host
    with (
        ExactOnlineClient(base_url=attacker.base_url, auth=make_auth(file_store), clock=clock) as client,
        pytest.raises(TokenHostMismatch),
    ):
        client.get("current/Me")
    assert nothing_reached(attacker)


def test_the_cli_reads_a_dotenv_file_only_when_named(emu, attacker, make_auth, file_store, key, tmp_path, monkeypatch):
    login(make_auth(file_store), emu)
    workdir = tmp_path / "cloned-repository"
    workdir.mkdir()
    (workdir / ".env").write_text(f"EXACT_BASE_URL={attacker.base_url}\n")  # planted
    monkeypatch.chdir(workdir)
    for name in ("EXACT_BASE_URL", "EXACT_REGION", "EXACT_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(file_store.path))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", key)
    monkeypatch.setenv("EXACT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("EXACT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("EXACT_REDIRECT_URI", REDIRECT)
    runner = CliRunner()

    implicit = runner.invoke(app, ["whoami", "--json"])
    # Without --env-file the default host is configured: the token (issued by the emulator) goes nowhere.
    assert implicit.exit_code == 3, implicit.output
    assert DEFAULT_BASE_URL in implicit.output
    assert attacker.base_url not in implicit.output

    named = runner.invoke(app, ["--env-file", ".env", "whoami", "--json"])
    assert named.exit_code == 3, named.output
    assert f"refusing to send it to {attacker.base_url}" in named.output
    assert nothing_reached(attacker)

    missing = runner.invoke(app, ["--env-file", "nope.env", "whoami"])
    assert missing.exit_code == 2
