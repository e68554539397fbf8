"""The one small interface every token store implements: load, and save with compare-and-swap on generation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..exceptions import TokenError
from .token import Token

__all__ = ["FreshLoading", "GenerationConflict", "RefreshLock", "RefreshLocking", "TokenStore", "TokenStoreError"]


class TokenStoreError(TokenError):
    """A store could not be read or written (corrupt data, wrong key, denied access, ...). Never "no token"."""


class GenerationConflict(TokenStoreError):
    """A save lost the compare-and-swap: the store already holds another (usually newer) generation."""

    def __init__(self, expected: int | None, found: int | None) -> None:
        super().__init__(f"token store holds generation {found}, expected {expected}: another writer rotated the token")
        self.expected = expected
        self.found = found


@runtime_checkable
class TokenStore(Protocol):
    """Where the token state lives. Implementations must be safe across threads (and, where they say so, processes)."""

    def load(self) -> Token | None:
        """The newest stored token, or None when nothing was ever stored. Corruption raises TokenStoreError."""
        ...

    def save(self, token: Token, *, expected_generation: int | None) -> object:
        """Store ``token`` if the current generation is ``expected_generation`` (None: the store must be empty).

        Raises :class:`GenerationConflict` otherwise, and :class:`TokenStoreError` when the write fails. The return
        value is the store's own receipt (callers may ignore it).
        """
        ...


class RefreshLock(Protocol):
    """A lock held around read-refresh-save so one process at a time refreshes (fresh object per use)."""

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most ``timeout`` real seconds (0: try once); True when taken."""
        ...

    def release(self) -> None:
        """Give the lock back."""
        ...


@runtime_checkable
class RefreshLocking(Protocol):
    """A store that can serialize refreshes across the processes sharing it (the encrypted file store does)."""

    def refresh_lock(self) -> RefreshLock:
        """A new, not yet acquired, lock object shared by every user of this store."""
        ...


@runtime_checkable
class FreshLoading(Protocol):
    """A store that caches its reads offers an uncached read (the read-only token source does its own caching)."""

    def load_fresh(self) -> Token | None:
        """The newest token as stored now, bypassing any cache."""
        ...
