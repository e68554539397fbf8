"""A Fernet-encrypted token file shared by the processes of one machine (extra ``[crypto]``).

The file holds one Fernet token whose plaintext is :meth:`Token.to_state` as JSON. Writes go to a temporary
file in the same directory (mode 0600), are fsynced and renamed over the target, so a reader sees the old or
the new state, never half of one. Two ``filelock`` locks sit beside the file: ``<path>.lock`` guards the
compare-and-swap of a save, ``<path>.refresh.lock`` is the cross-process refresh lock (see
:class:`~.store.RefreshLocking`). A wrong key or a damaged file raises :class:`TokenStoreError`, never "no token".
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ._settings import settings_from
from .store import GenerationConflict, RefreshLock, TokenStoreError
from .token import Token

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = ["EncryptedFileTokenStorage", "generate_key"]

LOCK_TIMEOUT = 60.0
POLL = 0.002  # real seconds between lock attempts: short, because tests run on fast scaled clocks


def generate_key() -> str:
    """A new random key for ``EXACT_ENCRYPTION_KEY``."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


class _FileRefreshLock:
    def __init__(self, path: str) -> None:
        from filelock import FileLock

        # A fresh, non-thread-local lock object per use: each holds its own descriptor, so two threads (or
        # two asyncio tasks in one thread) exclude each other as two processes do.
        self._lock = FileLock(path, thread_local=False, mode=0o600, poll_interval=POLL, preserve_lock_file=True)

    def acquire(self, timeout: float) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=timeout, blocking=timeout > 0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


class EncryptedFileTokenStorage:
    """Token state in one Fernet-encrypted file (``EXACT_TOKEN_PATH``, key ``EXACT_ENCRYPTION_KEY``).

    Safe across threads and processes. ``key`` is the urlsafe-base64 Fernet key (see :func:`generate_key`).
    """

    read_only = False

    def __init__(self, path: str | os.PathLike[str] | None = None, key: str | bytes | None = None) -> None:
        settings = settings_from(None) if path is None or key is None else None
        raw_path = path if path is not None else (settings.token_path if settings else None)
        if not raw_path:
            raise ConfigError("EXACT_TOKEN_PATH is not set (where to keep the token file)", variable="EXACT_TOKEN_PATH")
        env_key = settings.encryption_key if settings else None
        raw_key = key if key is not None else (env_key.get_secret_value() if env_key is not None else None)
        if not raw_key:
            raise ConfigError(
                "EXACT_ENCRYPTION_KEY is not set (create one with `exact-online auth new-key`)",
                variable="EXACT_ENCRYPTION_KEY",
            )
        self.path = Path(raw_path).expanduser()
        self._fernet = _fernet(raw_key)
        self._save_lock_path = f"{self.path}.lock"
        self._refresh_lock_path = f"{self.path}.refresh.lock"

    @classmethod
    def from_settings(cls, settings: Any) -> EncryptedFileTokenStorage:
        """Built from a :class:`~exact_online_sdk.config.Settings` (token_path, encryption_key)."""
        key = settings.encryption_key.get_secret_value() if settings.encryption_key is not None else None
        return cls(settings.token_path, key)

    def __repr__(self) -> str:
        return f"EncryptedFileTokenStorage(path={str(self.path)!r}, key=***)"

    def load(self) -> Token | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenStoreError(f"cannot read the token file {self.path}: {exc.strerror}") from None
        return self._decode(blob)

    def _decode(self, blob: bytes) -> Token:
        from cryptography.fernet import InvalidToken

        if not blob.strip():
            raise TokenStoreError(f"the token file {self.path} is empty (corrupt); run `exact-online auth login`")
        try:
            plain = self._fernet.decrypt(blob.strip())
        except InvalidToken:
            raise TokenStoreError(
                f"cannot decrypt the token file {self.path}: EXACT_ENCRYPTION_KEY is not the key it was written "
                "with, or the file is corrupt"
            ) from None
        try:
            return Token.from_state(json.loads(plain))
        except ValueError as exc:
            raise TokenStoreError(f"the token file {self.path} holds an invalid state: {exc}") from None

    def save(self, token: Token, *, expected_generation: int | None) -> None:
        from filelock import FileLock, Timeout

        blob = self._fernet.encrypt(json.dumps(token.to_state(), sort_keys=True).encode("utf-8"))
        lock = FileLock(
            self._save_lock_path, thread_local=False, mode=0o600, poll_interval=POLL, preserve_lock_file=True
        )
        try:
            with lock.acquire(timeout=LOCK_TIMEOUT):
                current = self.load()
                found = current.generation if current else None
                if found != expected_generation:
                    raise GenerationConflict(expected_generation, found)
                self._write(blob)
        except Timeout:
            raise TokenStoreError(f"timed out waiting for the lock {self._save_lock_path}") from None

    def _write(self, blob: bytes) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise TokenStoreError(f"cannot write the token file in {directory}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp creates it 0600
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise TokenStoreError(f"cannot write the token file {self.path}: {exc.strerror}") from None

    def refresh_lock(self) -> RefreshLock:
        return _FileRefreshLock(self._refresh_lock_path)


def _fernet(key: str | bytes) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ConfigError(
            "EXACT_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes)",
            variable="EXACT_ENCRYPTION_KEY",
        ) from None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
