"""The token state double-buffered over two AWS Secrets Manager secrets ("slots"), written in turn.

AWS asks for at most one PutSecretValue per secret every 10 minutes, but a token kept valid around the clock is
rotated every 570-600 s. So each rotation goes into the *older* of two secrets and readers take the state with the
highest ``generation``: each secret is written about every 19 minutes (see DESIGN decision 6, aws/NOTES.md).

- **Read-only unless built as the writer.** ``SecretsManagerTokenStorage(...)`` refuses ``save`` (and a
  refreshing source over it refuses before calling Exact); only the refresher and the bootstrap build it with
  ``writable=True``. An operator script or a worker can therefore never rotate the token and lose the result.
- **A damaged slot is absent.** A slot whose value does not parse is reported (``SlotState.corrupt``, an error
  log) and treated as empty: the other slot serves, the next write goes into the damaged slot, a re-consent
  overwrites it.
- **Idempotent, compare-and-swap writes.** The ``ClientRequestToken`` of a write is derived from (slot,
  generation, the version it replaces), so it is known before Exact is called; a retry sends the same token with
  the same bytes (JSON with sorted keys, serialized once) and is a no-op if the first attempt landed; two writers
  racing to replace the same version cannot both win (the second gets ``ResourceExistsException``, reported as
  :class:`GenerationConflict`); and a write is refused when the slots hold another generation than expected.
Reads always ask for ``VersionStage="AWSCURRENT"`` (cached in process for at most ``cache_ttl`` seconds, never past
``expires_at - expiry_margin``). Only botocore's errors become :class:`TokenStoreError`; a missing boto3 says
"install the aws extra". Secrets are never created or deleted here.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth.errors import ReadOnlyRefreshRefused
from ..auth.store import GenerationConflict, TokenStoreError
from ..auth.token import Token
from ..clock import Clock, SystemClock
from ._boto import aws_errors, error_code, is_retryable, make_secretsmanager_client

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from ..config import Settings

__all__ = ["SLOT_LABELS", "SecretsManagerTokenStorage", "SlotState", "WriteIntent", "serialize_state"]

logger = logging.getLogger("exact_online_sdk.aws.slots")

SLOT_LABELS = ("A", "B")
_CRT_NAMESPACE = uuid.UUID("5f0c3c1e-0e59-4d5a-9a57-2b7f1f1f6a01")


def serialize_state(token: Token) -> str:
    """The exact bytes stored for ``token``: JSON with sorted keys, so a retry re-sends identical bytes."""
    return json.dumps(token.to_state(), sort_keys=True, separators=(",", ":"))


def client_request_token(slot: str, generation: int, replaces: str | None = None) -> str:
    """The idempotency token of writing ``generation`` into ``slot`` over the version ``replaces``
    (deterministic, 36 characters: two writers replacing the same version collide; a retry is a no-op)."""
    return str(uuid.uuid5(_CRT_NAMESPACE, f"exact-token-slot:{slot}:{generation}:{replaces or ''}"))


@dataclass(frozen=True, slots=True)
class SlotState:
    """What one slot holds now (``token`` None: no value yet, or ``corrupt``: a value that does not parse)."""

    slot: str
    secret_id: str
    token: Token | None
    version_id: str | None = None
    corrupt: bool = False

    @property
    def generation(self) -> int:
        return self.token.generation if self.token is not None else 0


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """Where and how the next generation will be written; chosen before Exact is called."""

    slot: str
    secret_id: str
    generation: int
    expected_generation: int | None
    client_request_token: str


def newest(states: Sequence[SlotState]) -> Token | None:
    """The token with the highest generation across the slots."""
    tokens = [s.token for s in states if s.token is not None]
    return max(tokens, key=lambda t: t.generation) if tokens else None


class SecretsManagerTokenStorage:
    """A :class:`~exact_online_sdk.auth.store.TokenStore` over two Secrets Manager secrets (thread-safe).

    ``SecretsManagerTokenStorage("exact/token")`` uses the secrets ``exact/token-a`` and ``exact/token-b``;
    pass ``slots=(arn_a, arn_b)`` to name them exactly, or use :meth:`from_settings`. The region comes from
    ``region_name`` or the environment. Read-only unless ``writable=True`` (the refresher and the bootstrap).
    """

    def __init__(
        self,
        name: str | None = None,
        region_name: str | None = None,
        *,
        slots: Sequence[str] | None = None,
        client: SecretsManagerClient | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        cache_ttl: float = 30.0,
        expiry_margin: float = 30.0,
        min_reread_interval: float = 1.0,
        writer: str = "",
        writable: bool = False,
        write_attempts: int = 5,
        read_attempts: int = 3,
        retry_delay: float = 0.5,
    ) -> None:
        if slots is None:
            if not name:
                raise ValueError("SecretsManagerTokenStorage needs a secret name (prefix) or slots=(a, b)")
            slots = (f"{name}-a", f"{name}-b")
        if len(slots) != 2 or not all(isinstance(s, str) and s for s in slots) or slots[0] == slots[1]:
            raise ValueError("slots must be two different, non-empty secret names or ARNs")
        if write_attempts < 1 or read_attempts < 1:
            raise ValueError("write_attempts and read_attempts must be at least 1")
        self.slot_ids: dict[str, str] = dict(zip(SLOT_LABELS, slots, strict=True))
        self.region_name = region_name
        self.writer = writer
        self.writable = writable
        self._endpoint_url = endpoint_url
        self._client = client
        self._clock: Clock = clock or SystemClock()
        self._cache_ttl = cache_ttl
        self._expiry_margin = expiry_margin
        self._min_reread = min_reread_interval
        self._write_attempts = write_attempts
        self._read_attempts = read_attempts
        self._retry_delay = retry_delay
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._cached: Token | None = None
        self._known_secrets: set[str] = set()
        self._cache_until = float("-inf")

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> SecretsManagerTokenStorage:
        """Built from :class:`~exact_online_sdk.config.Settings`: ``token_secret_a``/``_b`` (the stack's outputs)
        or the name prefix ``token_secret``. ``kwargs`` go to the constructor (``writable=True`` for writers)."""
        from ..auth._settings import settings_from

        s = settings_from(settings)
        if s.token_secret_a and s.token_secret_b:
            return cls(slots=(s.token_secret_a, s.token_secret_b), **kwargs)
        if s.token_secret:
            return cls(s.token_secret, **kwargs)
        raise TokenStoreError(
            "no token secrets configured: set EXACT_TOKEN_SECRET_A and EXACT_TOKEN_SECRET_B "
            "(the stack's outputs) or EXACT_TOKEN_SECRET (a name prefix)"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> SecretsManagerTokenStorage:
        """:meth:`from_settings` over the environment (or the ``EXACT_*`` entries of ``environ``)."""
        from ..auth._settings import settings_from

        return cls.from_settings(settings_from(environ), **kwargs)

    def __repr__(self) -> str:
        mode = "writable" if self.writable else "read-only"
        return f"SecretsManagerTokenStorage(slots={tuple(self.slot_ids.values())!r}, {mode})"

    @property
    def read_only(self) -> bool:
        """True unless built with ``writable=True``: ``save`` is refused before any call."""
        return not self.writable

    @property
    def client(self) -> SecretsManagerClient:
        """The boto3 client (created on first use)."""
        with self._client_lock:
            if self._client is None:
                self._client = make_secretsmanager_client(self.region_name, endpoint_url=self._endpoint_url)
            return self._client

    # -- reading ---------------------------------------------------------------------------------------------
    def read_slots(self) -> list[SlotState]:
        """Both slots as stored now (AWSCURRENT), bypassing the cache."""
        return [self._read_slot(label, secret_id) for label, secret_id in self.slot_ids.items()]

    def _get(self, secret_id: str) -> Any:
        """GetSecretValue (AWSCURRENT), retried briefly on throttling and connection errors."""
        delay = self._retry_delay / 2
        for attempt in range(1, self._read_attempts + 1):
            try:
                return self.client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
            except aws_errors() as exc:
                if not is_retryable(exc) or attempt == self._read_attempts:
                    raise
                self._clock.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_slot(self, label: str, secret_id: str) -> SlotState:
        try:
            response = self._get(secret_id)
        except aws_errors() as exc:
            if error_code(exc) == "ResourceNotFoundException":
                self._ensure_exists(label, secret_id)
                return SlotState(label, secret_id, None)
            raise TokenStoreError(f"cannot read token slot {label} ({secret_id}): {_describe(exc)}") from exc
        version = response.get("VersionId")
        text = response.get("SecretString")
        try:
            if text is None:
                raise ValueError("binary data, not a token state")
            token = Token.from_state(json.loads(text))
        except (ValueError, TypeError):
            # Never echo the content: it holds secrets. Absent, so the other slot serves and the next write
            # (or a re-consent) goes here.
            logger.error("token slot %s (%s) holds a corrupt token state; treating it as empty", label, secret_id)
            return SlotState(label, secret_id, None, version, corrupt=True)
        return SlotState(label, secret_id, token, version)

    def _ensure_exists(self, label: str, secret_id: str) -> None:
        """A slot without a value is normal before the bootstrap; a secret that does not exist is a misconfiguration."""
        if secret_id in self._known_secrets:
            return
        try:
            self.client.describe_secret(SecretId=secret_id)
        except aws_errors() as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise TokenStoreError(
                    f"token slot {label}: secret {secret_id!r} does not exist (check the stack's outputs)"
                ) from exc
            raise TokenStoreError(f"cannot describe token slot {label} ({secret_id}): {code}") from exc
        self._known_secrets.add(secret_id)

    def load_fresh(self) -> Token | None:
        """The newest token as stored now (the read-only token source calls this: it caches by itself)."""
        return self.load(fresh=True)

    def load(self, *, fresh: bool = False) -> Token | None:
        """The newest token across both slots (cached briefly unless ``fresh``), or None before the bootstrap."""
        with self._lock:
            now = self._clock.now()
            if not fresh and now < self._cache_until:
                return self._cached
        token = newest(self.read_slots())
        self._remember(token)
        return token

    def _remember(self, token: Token | None) -> None:
        now = self._clock.now()
        if token is None:
            ttl = self._min_reread
        else:
            ttl = min(self._cache_ttl, token.expires_at - now - self._expiry_margin)
            ttl = max(ttl, self._min_reread)
        with self._lock:
            # Never let a slower, older read replace a newer cached generation.
            if token is not None and self._cached is not None and token.generation < self._cached.generation:
                return
            self._cached = token
            self._cache_until = now + ttl

    def invalidate(self) -> None:
        """Drop the in-process cache."""
        with self._lock:
            self._cache_until = float("-inf")

    # -- writing ---------------------------------------------------------------------------------------------
    def prepare_write(self, expected_generation: int | None, states: Sequence[SlotState] | None = None) -> WriteIntent:
        """Choose the slot (the older one) and the ClientRequestToken for generation ``expected + 1``."""
        states = list(states) if states is not None else self.read_slots()
        # The older slot; a damaged or empty one first (it holds nothing a reader could use).
        target = min(states, key=lambda s: (s.token is not None, s.generation))
        generation = (expected_generation or 0) + 1
        return WriteIntent(
            slot=target.slot,
            secret_id=target.secret_id,
            generation=generation,
            expected_generation=expected_generation,
            client_request_token=client_request_token(target.slot, generation, target.version_id),
        )

    def save(
        self,
        token: Token,
        *,
        expected_generation: int | None,
        intent: WriteIntent | None = None,
        states: Sequence[SlotState] | None = None,
        deadline: float | None = None,
    ) -> WriteIntent:
        """Store ``token`` if the slots' newest generation is ``expected_generation`` (None: both empty).

        Returns the intent that was carried out. Raises :class:`GenerationConflict` when another generation is
        stored (or another writer won the race for this one) and :class:`TokenStoreError` when the write fails
        after retries. Re-saving a token that is already stored byte for byte is a no-op success. ``states``
        (a read made just before) saves a round trip on a hot path; the deterministic ClientRequestToken still
        refuses a second writer of the same generation. A read-only store refuses before any call. No retry
        starts after ``deadline`` (this store's clock; a Lambda's remaining time).
        """
        if not self.writable:
            raise ReadOnlyRefreshRefused(
                "this SecretsManagerTokenStorage is read-only: only the refresher and the bootstrap write the "
                "slots (build it with writable=True there)"
            )
        states = list(states) if states is not None else self.read_slots()
        current = newest(states)
        found = current.generation if current is not None else None
        payload = serialize_state(token)
        if current is not None and current.generation == token.generation and serialize_state(current) == payload:
            self._remember(current)
            return intent or self.prepare_write(expected_generation, states)
        if found != expected_generation:
            raise GenerationConflict(expected_generation, found)
        if token.generation <= (found or 0):
            raise ValueError(f"token generation {token.generation} must be above the stored {found}")
        if intent is None:
            intent = self.prepare_write(expected_generation, states)
        if intent.generation != token.generation or intent.expected_generation != expected_generation:
            raise ValueError("the write intent was prepared for another generation")
        self._put(intent, payload, token, deadline)
        self._remember(token)
        return intent

    def _put(self, intent: WriteIntent, payload: str, token: Token, deadline: float | None) -> None:
        delay = self._retry_delay
        for attempt in range(1, self._write_attempts + 1):
            try:
                self.client.put_secret_value(
                    SecretId=intent.secret_id,
                    ClientRequestToken=intent.client_request_token,
                    SecretString=payload,
                )
            except aws_errors() as exc:
                code = error_code(exc)
                if code == "ResourceExistsException":
                    self._resolve_exists(intent, payload)
                    return
                out_of_time = deadline is not None and self._clock.now() + delay > deadline
                if not is_retryable(exc) or attempt == self._write_attempts or out_of_time:
                    raise TokenStoreError(
                        f"could not write generation {intent.generation} to token slot {intent.slot} "
                        f"({intent.secret_id}) after {attempt} attempt(s): {_describe(exc)}"
                    ) from exc
                logger.warning(
                    "writing token slot %s failed (%s), retrying with the same request in %.1fs",
                    intent.slot,
                    code or type(exc).__name__,
                    delay,
                )
                self._clock.sleep(delay)
                delay = min(delay * 2, 8.0)
            else:
                logger.info("stored token generation %d in slot %s", token.generation, intent.slot)
                return

    def _resolve_exists(self, intent: WriteIntent, payload: str) -> None:
        """Our ClientRequestToken was already used: fine if it stored these bytes, a lost race otherwise."""
        state = self._read_slot(intent.slot, intent.secret_id)
        if state.token is not None and serialize_state(state.token) == payload:
            return
        stored = newest(self.read_slots())
        raise GenerationConflict(intent.expected_generation, stored.generation if stored else None)


def _describe(exc: BaseException) -> str:
    """The AWS error code with its message (never a secret: AWS error messages name resources, not values)."""
    code = error_code(exc)
    if code is None:
        return f"{type(exc).__name__}: {exc}"
    message = getattr(exc, "response", {}).get("Error", {}).get("Message")
    return f"{code}: {message}" if message else code
