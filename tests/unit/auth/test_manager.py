"""ExactOnlineAuth over a MockTransport token endpoint that enforces Exact's rotation and 570 s rules."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from exact_online_sdk._core.credentials import AsyncTokenSource, TokenSource
from exact_online_sdk.auth import (
    ExactOnlineAuth,
    MemoryTokenStorage,
    ReadOnlyRefreshRefused,
    ReadOnlyTokenStorage,
    RefreshOutcomeUnknown,
    RefreshTokenExpired,
    RefreshTokenReused,
    StateMismatch,
    TokenUnavailable,
    TooEarlyToRefresh,
)
from exact_online_sdk.auth.store import GenerationConflict, TokenStoreError
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ConfigError

from .fake_exact import FakeExact

START = 1_767_225_600.0


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def exact(clock):
    return FakeExact(clock)


def make_auth(exact, clock, storage=None, **kw):
    return ExactOnlineAuth(
        None,
        storage=storage if storage is not None else MemoryTokenStorage(exact.seed()),
        client_id="cid",
        client_secret="s3cret",
        redirect_uri="https://app.example/cb",
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(exact.handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(exact.handler)),
        **kw,
    )


def test_is_a_token_source_and_refreshes_only_inside_the_window(exact, clock):
    auth = make_auth(exact, clock)
    assert isinstance(auth, TokenSource)
    assert isinstance(auth, AsyncTokenSource)
    first = auth.get_access_token()
    clock.advance(574)
    assert auth.get_access_token() == first
    assert exact.calls == []
    clock.advance(1)  # 575 s = 570 + the 5 s skew margin
    second = auth.get_access_token()
    assert second != first
    assert exact.calls == ["refresh_token"]
    stored = auth.storage.load()
    assert stored.generation == 2
    assert stored.access_token == second
    assert stored.issued_at == int(clock.now())  # from the Date header
    assert exact.too_early == 0


def test_many_threads_share_one_refresh(exact, clock):
    auth = make_auth(exact, clock)
    clock.advance(580)
    barrier = threading.Barrier(16)
    seen = []

    def worker():
        barrier.wait()
        seen.append(auth.get_access_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert exact.refreshes == 1
    assert exact.reused == 0
    assert len(set(seen)) == 1
    assert auth.storage.load().generation == 2


def test_many_tasks_and_threads_share_one_refresh(exact, clock):
    auth = make_auth(exact, clock)
    clock.advance(590)

    async def many():
        return await asyncio.gather(*(auth.aget_access_token() for _ in range(20)))

    results = []
    thread = threading.Thread(target=lambda: results.extend(auth.get_access_token() for _ in range(5)))
    thread.start()
    results.extend(asyncio.run(many()))
    thread.join()
    assert exact.refreshes == 1
    assert exact.reused == 0
    assert len(set(results)) == 1


def test_second_instance_skips_when_the_store_was_already_rotated(exact, clock):
    store = MemoryTokenStorage(exact.seed())
    a, b = make_auth(exact, clock, store), make_auth(exact, clock, store)
    old = b.get_access_token()  # b caches generation 1
    clock.advance(580)
    new = a.get_access_token()
    assert b.get_access_token() == new != old  # b re-read after the lock instead of refreshing again
    assert exact.refreshes == 1
    assert exact.reused == 0


def test_a_lost_answer_that_exact_never_processed_is_resent_once_and_the_chain_lives(exact, clock):
    """Issue 12 defect 4: a lost answer is resent with the same refresh token, once."""
    auth = make_auth(exact, clock)
    before = auth.storage.load()
    clock.advance(580)
    exact.fail_next = httpx.WriteTimeout("lost before Exact read it")
    token = auth.get_token()
    assert token.generation == 2
    assert auth.storage.load() == token
    assert exact.calls == ["lost:refresh_token", "refresh_token"]
    assert exact.refreshes == 1
    assert token.refresh_token != before.refresh_token
    assert token.chain_id == before.chain_id


def test_a_lost_rotation_is_resent_once_then_reported_as_reused_and_never_sent_again(exact, clock):
    auth = make_auth(exact, clock)
    before = auth.storage.load()
    clock.advance(580)
    exact.fail_next = httpx.ReadTimeout("lost after Exact rotated")
    with pytest.raises(RefreshTokenReused, match="answer was lost") as info:
        auth.get_access_token()
    assert "exact-online auth login" in str(info.value)
    assert auth.storage.load() == before  # nothing lost or overwritten
    assert exact.calls == ["lost:refresh_token", "refresh_token"]  # sent, resent once
    assert auth.get_access_token() == before.access_token  # still valid for 20 s: handed out
    clock.advance(20)
    for _ in range(3):
        with pytest.raises(RefreshTokenReused):
            auth.get_access_token()
    assert len(exact.calls) == 2  # a final refusal is not asked again
    assert exact.reused == 1


def test_a_refresh_lost_twice_is_not_sent_a_third_time(exact, clock):
    auth = make_auth(exact, clock)
    before = auth.storage.load()
    clock.advance(580)
    answers = iter([httpx.WriteTimeout("lost"), httpx.WriteTimeout("lost again")])
    real = exact.handler

    def handler(request):
        exc = next(answers, None)
        if exc is not None:
            exact.fail_next = exc
        return real(request)

    auth = make_auth(exact, clock, auth.storage)
    auth._http = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(RefreshOutcomeUnknown) as info:
        auth.get_access_token()
    assert info.value.generation == 1
    assert "resent once" in info.value.hint
    assert auth.get_access_token() == before.access_token  # valid until it expires
    clock.advance(20)
    with pytest.raises(RefreshOutcomeUnknown):
        auth.get_access_token()
    assert exact.calls == ["lost:refresh_token", "lost:refresh_token"]
    # On request it is tried once more (Exact had not processed either: the chain lives).
    assert auth.refresh(retry_unknown=True).generation == 2


def test_too_early_refusal_keeps_the_current_token(exact, clock):
    # A client whose clock runs ahead of Exact's: it believes the window is open 60 s too soon.
    auth = make_auth(exact, clock, min_refresh_age=510)
    token = auth.get_access_token()
    clock.advance(520)
    assert auth.get_access_token() == token
    assert exact.too_early == 1
    assert auth.get_access_token() == token  # backs off instead of asking again at once
    assert exact.too_early == 1
    assert auth.storage.load().generation == 1
    clock.advance(60)
    assert auth.get_access_token() != token
    assert auth.storage.load().generation == 2


def test_reused_refresh_token_is_typed_and_store_untouched(exact, clock):
    stale = exact.seed()
    store = MemoryTokenStorage(stale)
    clock.advance(580)
    exact.dead.add(stale.refresh_token)
    auth = make_auth(exact, clock, store)
    with pytest.raises(RefreshTokenReused, match="exact-online auth login"):
        auth.get_access_token()
    assert store.load() == stale


def test_expired_refresh_token_is_typed():
    clock = ManualClock(START)

    def handler(request):
        return httpx.Response(
            400, json={"error": "invalid_request", "error_description": "The refresh token expired at 1/1/2026"}
        )

    fake = FakeExact(clock)
    token = fake.seed()
    store = MemoryTokenStorage(token)
    auth = ExactOnlineAuth(
        storage=store,
        client_id="c",
        client_secret="s",
        redirect_uri="https://x/cb",
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    clock.advance(31 * 86400)
    with pytest.raises(RefreshTokenExpired):
        auth.get_access_token()
    assert store.load() == token


def test_unauthorized_rereads_the_store_once(exact, clock):
    store = MemoryTokenStorage(exact.seed())
    auth = make_auth(exact, clock, store)
    token = auth.get_access_token()
    assert auth.on_unauthorized(token) is None  # nothing newer: the client must not loop
    assert exact.calls == []
    other = exact.seed(generation=2)
    store.save(other, expected_generation=1)
    assert auth.on_unauthorized(token) == other.access_token
    assert auth.get_access_token() == other.access_token
    assert asyncio.run(auth.aon_unauthorized(other.access_token)) is None


def test_login_flow_verifies_state_and_writes_generation_one(exact, clock):
    store = MemoryTokenStorage()
    auth = make_auth(exact, clock, store)
    url = httpx.URL(auth.authorization_url(force_login=True))
    state = url.params["state"]
    assert len(state) >= 20
    assert url.params["force_login"] == "1"
    with pytest.raises(StateMismatch):
        auth.complete_authorization("https://app.example/cb?code=c0de%211&state=forged")
    assert exact.calls == []  # refused before any network call
    token = auth.complete_authorization(f"https://app.example/cb?code=c0de%211&state={state}")
    assert token.generation == 1
    assert store.load() == token
    # A second login over an existing chain keeps generations increasing.
    url = httpx.URL(auth.authorization_url())
    token2 = auth.complete_authorization(f"https://app.example/cb?code=c0de%212&state={url.params['state']}")
    assert token2.generation == 2
    assert store.load() == token2


def test_read_only_storage_never_reaches_the_token_endpoint(exact, clock):
    inner = MemoryTokenStorage(exact.seed())
    auth = make_auth(exact, clock, ReadOnlyTokenStorage(inner, clock=clock, poll_timeout=60))
    token = auth.get_access_token()
    with pytest.raises(ReadOnlyRefreshRefused):
        auth.refresh(force=True)
    with pytest.raises(ReadOnlyRefreshRefused):
        auth.exchange_code("c0de!1")
    clock.advance(600)
    with pytest.raises(TokenUnavailable):
        auth.get_access_token()
    with pytest.raises(TokenUnavailable):
        asyncio.run(auth.aget_access_token())
    assert exact.calls == []
    assert inner.load().access_token == token


class FlakyStore(MemoryTokenStorage):
    def __init__(self, token, failures):
        super().__init__(token)
        self.failures = failures

    def save(self, token, *, expected_generation):
        if self.failures:
            self.failures -= 1
            raise TokenStoreError("disk full")
        super().save(token, expected_generation=expected_generation)


def test_a_rotated_token_is_not_lost_when_saving_fails(exact, clock):
    store = FlakyStore(exact.seed(), failures=4)
    auth = make_auth(exact, clock, store)
    clock.advance(580)
    with pytest.raises(TokenStoreError):
        auth.get_access_token()
    assert store.load().generation == 1
    with pytest.raises(TokenStoreError):  # the store is still failing
        auth.get_access_token()
    # The next call persists the pending generation 2 before anything else; no second refresh at Exact.
    token = auth.get_access_token()
    assert store.load().generation == 2
    assert store.load().access_token == token
    assert exact.refreshes == 1
    assert exact.reused == 0


def test_concurrent_writer_conflict_is_raised(exact, clock):
    class Racing(MemoryTokenStorage):
        def save(self, token, *, expected_generation):
            raise GenerationConflict(expected_generation, 9)

    auth = make_auth(exact, clock, Racing(exact.seed()))
    clock.advance(580)
    with pytest.raises(GenerationConflict):
        auth.get_access_token()


def test_missing_configuration_is_named(exact, clock):
    auth = ExactOnlineAuth(storage=MemoryTokenStorage(exact.seed()), client_id="c", clock=clock)
    with pytest.raises(ConfigError, match="EXACT_CLIENT_SECRET, EXACT_REDIRECT_URI"):
        auth.authorization_url()
    assert auth.get_access_token()  # reading a stored token needs no client secret
    with pytest.raises(TokenUnavailable, match="no token"):
        ExactOnlineAuth(storage=MemoryTokenStorage(), clock=clock).get_access_token()


def test_settings_object_and_repr_hide_secrets(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from exact_online_sdk.config import Settings

    monkeypatch.setenv("EXACT_CLIENT_ID", "cid")
    monkeypatch.setenv("EXACT_CLIENT_SECRET", "super-secret-value")
    monkeypatch.setenv("EXACT_REDIRECT_URI", "https://app.example/cb")
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(tmp_path / "t.bin"))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    auth = ExactOnlineAuth(Settings())
    assert type(auth.storage).__name__ == "EncryptedFileTokenStorage"
    assert "super-secret-value" not in repr(auth)
    assert "client_id=cid" in auth.authorization_url()


def test_async_refresh_paths(exact, clock):
    auth = make_auth(exact, clock)
    token = auth.get_token()

    async def run():
        with pytest.raises(TooEarlyToRefresh):
            await auth.arefresh(force=True)
        eager = make_auth(exact, clock, auth.storage, min_refresh_age=100)
        clock.advance(110)
        assert await eager.aget_access_token() == token.access_token  # refused as too early: kept
        clock.advance(470)
        exact.fail_next = httpx.ReadTimeout("lost")
        with pytest.raises(RefreshTokenReused, match="answer was lost"):
            await auth.aget_access_token()  # resent once: Exact had rotated
        clock.advance(30)
        with pytest.raises(RefreshTokenReused):
            await auth.aget_access_token()  # not sent again
        assert exact.reused == 1

    asyncio.run(run())
    assert auth.storage.load() == token
    assert exact.too_early == 2


def test_async_read_only_refuses(exact, clock):
    auth = make_auth(exact, clock, ReadOnlyTokenStorage(MemoryTokenStorage(exact.seed()), clock=clock))

    async def run():
        with pytest.raises(ReadOnlyRefreshRefused):
            await auth.arefresh(force=True)
        return await auth.aget_access_token()

    assert asyncio.run(run())
    assert exact.calls == []
