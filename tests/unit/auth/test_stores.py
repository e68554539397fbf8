"""Token stores: compare-and-swap, the encrypted file's format and failure modes, the read-only wrapper."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
from cryptography.fernet import Fernet

from exact_online_sdk.auth import (
    EncryptedFileTokenStorage,
    MemoryTokenStorage,
    ReadOnlyRefreshRefused,
    ReadOnlyTokenStorage,
    Token,
    TokenUnavailable,
)
from exact_online_sdk.auth.store import GenerationConflict, RefreshLocking, TokenStore, TokenStoreError
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ConfigError


def tok(gen: int, issued: float = 1000.0, life: float = 600.0) -> Token:
    return Token(f"AT-{gen}-secret", f"RT-{gen}-secret", issued_at=issued, expires_at=issued + life, generation=gen)


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path, key) -> TokenStore:
    if request.param == "memory":
        return MemoryTokenStorage()
    return EncryptedFileTokenStorage(tmp_path / "sub" / "token.bin", key)


def test_compare_and_swap(store):
    assert isinstance(store, TokenStore)
    assert isinstance(store, RefreshLocking)
    assert store.load() is None
    with pytest.raises(GenerationConflict):
        store.save(tok(1), expected_generation=3)
    store.save(tok(1), expected_generation=None)
    with pytest.raises(GenerationConflict) as info:
        store.save(tok(2), expected_generation=None)
    assert (info.value.expected, info.value.found) == (None, 1)
    store.save(tok(2), expected_generation=1)
    loaded = store.load()
    assert loaded == tok(2)
    with pytest.raises(GenerationConflict):
        store.save(tok(3), expected_generation=1)
    assert store.load() == tok(2)


def test_refresh_lock_excludes_a_second_holder(store):
    first, second = store.refresh_lock(), store.refresh_lock()
    assert first.acquire(1.0)
    assert not second.acquire(0.0)
    first.release()
    assert second.acquire(0.0)
    second.release()


def test_file_is_encrypted_0600_and_atomic(tmp_path, key):
    path = tmp_path / "token.bin"
    store = EncryptedFileTokenStorage(path, key)
    store.save(tok(1), expected_generation=None)
    raw = path.read_bytes()
    assert b"AT-1-secret" not in raw
    assert b"RT-1-secret" not in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"RT-1-secret" in Fernet(key.encode()).decrypt(raw)
    store.save(tok(2), expected_generation=1)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert "secret" not in repr(store)
    assert key not in repr(store)


def test_wrong_key_is_a_clear_error_and_file_is_untouched(tmp_path, key):
    path = tmp_path / "token.bin"
    EncryptedFileTokenStorage(path, key).save(tok(5), expected_generation=None)
    before = path.read_bytes()
    other = EncryptedFileTokenStorage(path, Fernet.generate_key().decode())
    with pytest.raises(TokenStoreError, match="EXACT_ENCRYPTION_KEY"):
        other.load()
    with pytest.raises(TokenStoreError):
        other.save(tok(6), expected_generation=5)  # cannot read the current state: never overwrite it
    assert path.read_bytes() == before
    assert EncryptedFileTokenStorage(path, key).load() == tok(5)


@pytest.mark.parametrize("content", [b"", b"garbage-not-fernet", b"\x00\x01\x02"])
def test_corrupt_file_is_an_error_not_no_token(tmp_path, key, content):
    path = tmp_path / "token.bin"
    path.write_bytes(content)
    store = EncryptedFileTokenStorage(path, key)
    with pytest.raises(TokenStoreError, match="token file"):
        store.load()
    with pytest.raises(TokenStoreError):
        store.save(tok(1), expected_generation=None)
    assert path.read_bytes() == content


def test_decryptable_but_invalid_state_is_corrupt(tmp_path, key):
    path = tmp_path / "token.bin"
    path.write_bytes(Fernet(key.encode()).encrypt(b'{"schema": 1, "generation": 2}'))
    with pytest.raises(TokenStoreError, match="invalid state"):
        EncryptedFileTokenStorage(path, key).load()


def test_file_store_configuration_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("EXACT_TOKEN_PATH", raising=False)
    monkeypatch.delenv("EXACT_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ConfigError, match="EXACT_TOKEN_PATH"):
        EncryptedFileTokenStorage()
    with pytest.raises(ConfigError, match="EXACT_ENCRYPTION_KEY"):
        EncryptedFileTokenStorage(tmp_path / "t")
    with pytest.raises(ConfigError, match="not a Fernet key") as info:
        EncryptedFileTokenStorage(tmp_path / "t", "short-key-value")
    assert "short-key-value" not in str(info.value)
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(tmp_path / "env.bin"))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    EncryptedFileTokenStorage().save(tok(1), expected_generation=None)
    assert (tmp_path / "env.bin").exists()


class CountingStore(MemoryTokenStorage):
    def __init__(self, token=None):
        super().__init__(token)
        self.loads = 0
        self.on_load = None

    def load(self):
        self.loads += 1
        if self.on_load:
            self.on_load(self.loads)
        return super().load()


def test_read_only_refuses_saves():
    ro = ReadOnlyTokenStorage(MemoryTokenStorage(tok(1)))
    with pytest.raises(ReadOnlyRefreshRefused, match="read-only"):
        ro.save(tok(2), expected_generation=1)
    assert not isinstance(ro, RefreshLocking)
    assert ro.load() == tok(1)


def test_read_only_caches_then_waits_for_the_next_generation():
    clock = ManualClock(1000.0)
    inner = CountingStore(tok(1, issued=1000.0))
    ro = ReadOnlyTokenStorage(inner, clock=clock, min_validity=5, poll_timeout=90, poll_interval=1)
    assert ro.get_access_token() == "AT-1-secret"
    assert ro.get_access_token() == "AT-1-secret"
    assert inner.loads == 1  # cached (bounded by cache_ttl and the token's life)
    clock.set(1000 + 596)  # 4 s left: too close to expiry
    # the writer stores generation 2 on the third poll
    inner.on_load = lambda n: n == 4 and MemoryTokenStorage.save(inner, tok(2, issued=1590), expected_generation=1)
    assert ro.get_access_token() == "AT-2-secret"
    assert 1596 < clock.now() < 1596 + 90


def test_read_only_raises_token_unavailable_when_the_writer_is_silent():
    clock = ManualClock(1000.0)
    ro = ReadOnlyTokenStorage(MemoryTokenStorage(tok(1, issued=1000.0)), clock=clock, poll_timeout=90)
    clock.set(1700)
    with pytest.raises(TokenUnavailable, match="generation 1") as info:
        ro.get_access_token()
    assert "Next:" in str(info.value)
    assert clock.now() == pytest.approx(1790)  # bounded wait
    with pytest.raises(TokenUnavailable, match="no token"):
        ReadOnlyTokenStorage(MemoryTokenStorage(), clock=clock, poll_timeout=5).get_access_token()


def test_read_only_on_unauthorized_rereads_once():
    clock = ManualClock(1000.0)
    inner = MemoryTokenStorage(tok(1, issued=1000.0))
    ro = ReadOnlyTokenStorage(inner, clock=clock)
    assert ro.get_access_token() == "AT-1-secret"
    assert ro.on_unauthorized("AT-1-secret") is None  # same token: no retry
    inner.save(tok(2, issued=1001.0), expected_generation=1)
    assert ro.on_unauthorized("AT-1-secret") == "AT-2-secret"


def test_read_only_async():
    clock = ManualClock(1000.0)
    inner = CountingStore(tok(1, issued=1000.0))
    ro = ReadOnlyTokenStorage(inner, clock=clock, poll_timeout=30)

    async def run():
        first = await ro.aget_access_token()
        clock.set(1598)
        inner.on_load = lambda n: n == 3 and MemoryTokenStorage.save(inner, tok(2, 1597), expected_generation=1)
        second = await ro.aget_access_token()
        inner.save(tok(3, 1598), expected_generation=2)
        third = await ro.aon_unauthorized(second)
        return first, second, third

    assert asyncio.run(run()) == ("AT-1-secret", "AT-2-secret", "AT-3-secret")


@pytest.mark.parametrize("first", ["save", "refresh_lock"])
def test_a_missing_token_directory_is_created_private_before_any_lock_file(tmp_path, key, first):
    # The lock files come first and filelock would create the directory 0755: the token's neighbours (the lock
    # files, a later temporary file) must never sit in a directory others can list.
    path = tmp_path / "state" / "exact" / "token.bin"
    store = EncryptedFileTokenStorage(path, key)
    if first == "save":
        store.save(tok(1), expected_generation=None)
    else:
        lock = store.refresh_lock()
        assert lock.acquire(1.0)
        lock.release()
    for directory in (path.parent, path.parent.parent):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory


def test_an_existing_token_directory_keeps_its_mode(tmp_path, key):
    tmp_path.chmod(0o750)
    EncryptedFileTokenStorage(tmp_path / "token.bin", key).save(tok(1), expected_generation=None)
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o750
