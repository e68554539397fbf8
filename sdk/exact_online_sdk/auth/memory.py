"""An in-process token store (tests, notebooks, single-process scripts)."""

from __future__ import annotations

import threading

from .store import GenerationConflict, RefreshLock
from .token import Token

__all__ = ["MemoryTokenStorage"]


class _ThreadRefreshLock:
    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def acquire(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()


class MemoryTokenStorage:
    """Holds one token in memory; compare-and-swap on ``generation``; thread-safe."""

    read_only = False

    def __init__(self, token: Token | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()
        self._refresh = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStorage(token={self._token!r})"

    def load(self) -> Token | None:
        with self._lock:
            return self._token

    def save(self, token: Token, *, expected_generation: int | None) -> None:
        with self._lock:
            found = self._token.generation if self._token else None
            if found != expected_generation:
                raise GenerationConflict(expected_generation, found)
            self._token = token

    def refresh_lock(self) -> RefreshLock:
        return _ThreadRefreshLock(self._refresh)
