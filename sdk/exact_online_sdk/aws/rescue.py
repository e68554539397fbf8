"""The rescue store: one KMS-encrypted secret that only the refresher may write.

It keeps what must not be lost when the slots cannot be written: a freshly rotated token (``kind="token"``) and
the record that a refresh had an unknown outcome (``kind="outcome_unknown"``, so the same refresh token is never
resent). Each write is one PutSecretValue with its own ClientRequestToken, retried with the same bytes.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..auth.store import TokenStoreError
from ..auth.token import Token
from ..clock import Clock, SystemClock
from ._boto import error_code, is_retryable, make_secretsmanager_client

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["RescueRecord", "RescueStore"]

logger = logging.getLogger("exact_online_sdk.aws.rescue")

RESCUE_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class RescueRecord:
    """What the rescue secret holds. ``token`` is set for ``kind="token"``; ``generation`` is the generation
    the record is about (the rescued token's, or the stored one whose refresh had an unknown outcome)."""

    kind: Literal["token", "outcome_unknown"]
    generation: int
    recorded_at: float
    reason: str
    token: Token | None = None

    def __repr__(self) -> str:
        return f"RescueRecord(kind={self.kind!r}, generation={self.generation}, reason={self.reason!r})"

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "schema": RESCUE_SCHEMA,
            "kind": self.kind,
            "generation": self.generation,
            "recorded_at": self.recorded_at,
            "reason": self.reason,
        }
        if self.token is not None:
            body["state"] = self.token.to_state()
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RescueRecord:
        body = json.loads(text)
        if not isinstance(body, dict) or body.get("schema") != RESCUE_SCHEMA:
            raise ValueError("unsupported rescue record")
        kind = body.get("kind")
        if kind not in ("token", "outcome_unknown"):
            raise ValueError("unknown rescue record kind")
        token = Token.from_state(body["state"]) if kind == "token" else None
        return cls(
            kind=kind,
            generation=int(body["generation"]),
            recorded_at=float(body.get("recorded_at", 0.0)),
            reason=str(body.get("reason", "")),
            token=token,
        )


class RescueStore:
    """One Secrets Manager secret holding the latest :class:`RescueRecord` (never deleted)."""

    def __init__(
        self,
        secret_id: str,
        region_name: str | None = None,
        *,
        client: SecretsManagerClient | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        write_attempts: int = 4,
        retry_delay: float = 0.5,
    ) -> None:
        if not secret_id:
            raise ValueError("RescueStore needs a secret name or ARN")
        self.secret_id = secret_id
        self.region_name = region_name
        self._endpoint_url = endpoint_url
        self._client = client
        self._clock: Clock = clock or SystemClock()
        self._attempts = max(1, write_attempts)
        self._retry_delay = retry_delay
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RescueStore({self.secret_id!r})"

    @property
    def client(self) -> SecretsManagerClient:
        with self._client_lock:
            if self._client is None:
                self._client = make_secretsmanager_client(self.region_name, endpoint_url=self._endpoint_url)
            return self._client

    def load(self) -> RescueRecord | None:
        """The current record, or None when the secret has no value yet."""
        try:
            response = self.client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise TokenStoreError(f"cannot read the rescue store: {error_code(exc) or type(exc).__name__}") from exc
        try:
            return RescueRecord.from_json(response.get("SecretString") or "")
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenStoreError("the rescue store holds a corrupt record") from exc

    def save(self, record: RescueRecord) -> None:
        """Write ``record`` (same ClientRequestToken and bytes on every retry); TokenStoreError if it fails."""
        payload = record.to_json()
        token = str(uuid.uuid4())
        delay = self._retry_delay
        for attempt in range(1, self._attempts + 1):
            try:
                self.client.put_secret_value(SecretId=self.secret_id, ClientRequestToken=token, SecretString=payload)
            except Exception as exc:
                if not is_retryable(exc) or attempt == self._attempts:
                    raise TokenStoreError(
                        f"could not write the rescue store: {error_code(exc) or type(exc).__name__}"
                    ) from exc
                self._clock.sleep(delay)
                delay = min(delay * 2, 8.0)
            else:
                logger.warning(
                    "wrote a %s record for generation %d to the rescue store", record.kind, record.generation
                )
                return
