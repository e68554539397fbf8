"""Every failure path of the token lifecycle against the emulator over loopback HTTP: the typed error, and no
stored token lost or overwritten."""

from __future__ import annotations

import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.auth import (
    EncryptedFileTokenStorage,
    MemoryTokenStorage,
    ReadOnlyRefreshRefused,
    ReadOnlyTokenStorage,
    RefreshTokenExpired,
    RefreshTokenReused,
    TokenUnavailable,
    TooEarlyToRefresh,
)
from exact_online_sdk.auth.store import TokenStoreError
from exact_online_sdk.emulator import EmulatorConfig
from exact_online_sdk.exceptions import AuthenticationError

from .conftest import login, token_calls


def test_refresh_in_window_rotates_and_persists(emu, clock, file_store, make_auth):
    auth = make_auth(file_store)
    first = login(auth, emu)
    clock.advance(574)
    assert auth.get_access_token() == first.access_token
    clock.advance(2)
    second = auth.get_token()
    assert second.generation == 2
    assert second.access_token != first.access_token
    assert file_store.load() == second
    counters = emu.control.counters()
    assert counters["refreshes"] == 1
    assert counters.get("early_refreshes", 0) == 0


def test_read_only_worker_never_reaches_the_token_endpoint(emu, clock, file_store, make_auth):
    writer = make_auth(file_store)
    login(writer, emu)
    worker = make_auth(ReadOnlyTokenStorage(file_store, clock=clock, poll_timeout=60, poll_interval=5))
    calls = token_calls(emu)
    with ExactOnlineClient(auth=worker, base_url=emu.base_url, clock=clock, division=1001) as client:
        assert client.get("current/Me")
    clock.advance(580)
    assert worker.get_access_token()  # 20 s left: still handed out (more than min_validity, 15 s)
    for step in (10, 10, 100):  # near expiry (10 s left), at expiry, after expiry
        clock.advance(step)
        with pytest.raises(TokenUnavailable):
            worker.get_access_token()
    with pytest.raises(ReadOnlyRefreshRefused):
        worker.refresh(force=True)
    assert token_calls(emu) == calls  # the emulator's counter: not one token call from the worker
    # The writer rotates; the worker picks the new generation up without calling the token endpoint itself.
    new = writer.get_token()
    assert new.generation == 2
    assert worker.get_access_token() == new.access_token
    assert token_calls(emu) == calls + 1


def test_401_rereads_the_store_once_and_retries_once(emu, clock, file_store, make_auth):
    auth = make_auth(file_store)
    old = login(auth, emu)
    with ExactOnlineClient(auth=auth, base_url=emu.base_url, clock=clock, division=1001) as client:
        assert client.get("current/Me")
        # Another writer rotated the token and Exact no longer accepts the cached one.
        emu.control.expire_access_tokens()
        pair = emu.control.issue_token()
        new = old.replace(
            access_token=pair["access_token"], refresh_token=pair["refresh_token"], generation=2, issued_at=clock.now()
        )
        file_store.save(new, expected_generation=1)
        before = emu.control.counters().get("unauthorized", 0)
        assert client.get("current/Me")  # 401, re-read, one retry with generation 2
        assert emu.control.counters()["unauthorized"] == before + 1
        # Nothing newer in the store: the 401 is final after exactly one more request.
        emu.control.expire_access_tokens()
        with pytest.raises(AuthenticationError):
            client.get("current/Me")
        assert emu.control.counters()["unauthorized"] == before + 2
    assert file_store.load() == new


def test_too_early_refresh_is_typed_and_does_not_burn_the_token(emu, clock, file_store, make_auth):
    auth = make_auth(file_store)
    first = login(auth, emu)
    clock.advance(100)
    with pytest.raises(TooEarlyToRefresh) as info:
        auth.refresh(force=True)
    assert "Next:" in str(info.value)
    assert file_store.load() == first
    # A client whose clock runs ahead keeps its valid token instead of failing.
    eager = make_auth(file_store, min_refresh_age=100)
    clock.advance(10)
    assert eager.get_access_token() == first.access_token
    assert emu.control.counters()["early_refreshes"] == 2
    clock.advance(470)
    assert auth.get_token().generation == 2  # the refresh token was not spent by the refusals


def test_a_lost_rotation_is_resent_once_and_reported_as_lost(emu, clock, file_store, make_auth):
    """Issue 12 defect 4: Exact rotates, the answer is lost; the one resend gets 'Old refresh token used'."""
    auth = make_auth(file_store, timeout=0.3)
    first = login(auth, emu)
    clock.advance(580)
    emu.control.inject("token_drop", path="oauth2/token")
    calls = token_calls(emu)
    with pytest.raises(RefreshTokenReused, match="answer was lost"):
        auth.get_access_token()
    assert token_calls(emu) == calls + 2  # sent, resent once
    assert file_store.load() == first
    assert auth.get_access_token() == first.access_token  # valid until it expires
    clock.advance(20)
    with pytest.raises(RefreshTokenReused):
        auth.get_access_token()
    assert token_calls(emu) == calls + 2  # a final refusal is not asked again


def test_a_slow_answer_is_resent_once_and_the_chain_lives(emu, clock, file_store, make_auth):
    """Issue 12 defect 4: a slow answer left 'outcome unknown' for ever although a resend would have succeeded."""
    auth = make_auth(file_store, timeout=0.3)
    login(auth, emu)
    clock.advance(580)
    emu.control.inject("reset", path="oauth2/token")  # the connection drops before Exact processed it
    token = auth.get_token()
    assert token.generation == 2
    assert file_store.load() == token
    assert emu.control.counters().get("rejected_refresh_tokens", 0) == 0


def test_reused_refresh_token_is_typed_and_store_untouched(emu, clock, make_auth):
    # A misconfigured second writer with its own copy of the same token: the classic broken chain.
    first = make_auth(MemoryTokenStorage())
    token = login(first, emu)
    copy = MemoryTokenStorage(token)
    second = make_auth(copy)
    clock.advance(580)
    assert first.get_token().generation == 2
    with pytest.raises(RefreshTokenReused, match="auth login"):
        second.get_access_token()
    assert copy.load() == token
    assert emu.control.counters()["rejected_refresh_tokens"] == 1


@pytest.fixture
def emulator_config(clock):
    return EmulatorConfig(clock=clock, token_daily_limit=None, refresh_token_lifetime=3600.0)


def test_expired_refresh_token_is_typed_and_store_untouched(emu, clock, file_store, make_auth):
    auth = make_auth(file_store)
    token = login(auth, emu)
    clock.advance(7200)
    with pytest.raises(RefreshTokenExpired, match="expired"):
        auth.get_access_token()
    assert file_store.load() == token


def test_corrupt_file_and_wrong_key_fail_clearly_before_any_token_call(emu, clock, tmp_path, key, make_auth):
    path = tmp_path / "token.bin"
    store = EncryptedFileTokenStorage(path, key)
    login(make_auth(store), emu)
    good = path.read_bytes()
    calls = token_calls(emu)
    from cryptography.fernet import Fernet

    wrong = make_auth(EncryptedFileTokenStorage(path, Fernet.generate_key().decode()))
    with pytest.raises(TokenStoreError, match="EXACT_ENCRYPTION_KEY"):
        wrong.get_access_token()
    with pytest.raises(TokenStoreError):
        wrong.exchange_code(emu.control.authorize(redirect_uri="https://app.example/callback"))
    assert path.read_bytes() == good
    path.write_bytes(good[: len(good) // 2])
    damaged = path.read_bytes()
    corrupt = make_auth(EncryptedFileTokenStorage(path, key))
    clock.advance(580)
    with pytest.raises(TokenStoreError, match="corrupt"):
        corrupt.get_access_token()
    assert path.read_bytes() == damaged
    assert token_calls(emu) == calls + 1  # only the refused login's exchange reached Exact


def test_async_tasks_and_threads_share_one_refresh_at_exact(emu, clock, file_store, make_auth):
    import asyncio
    import threading

    from exact_online_sdk import AsyncExactOnlineClient

    auth = make_auth(file_store)
    login(auth, emu)
    clock.advance(580)

    async def many() -> list[object]:
        async with AsyncExactOnlineClient(auth=auth, base_url=emu.base_url, clock=clock, division=1001) as client:
            return await asyncio.gather(*(client.get("current/Me") for _ in range(10)))

    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.extend(auth.get_access_token() for _ in range(3)))
    thread.start()
    results = asyncio.run(many())
    thread.join()
    assert all(results)
    counters = emu.control.counters()
    assert counters["refreshes"] == 1
    assert counters.get("rejected_refresh_tokens", 0) == 0
    assert counters.get("unauthorized", 0) == 0
    assert set(seen) == {file_store.load().access_token}
