"""The rescue store: one KMS-encrypted secret that only the refresher may write.

It keeps what a later run (maybe in a cold container) must know about the current chain:

- ``kind="token"``: a freshly rotated token the slots could not take; restored only into the chain it belongs to
  (same ``chain_id``, a higher generation than stored) and cleared once stored;
- ``kind="outcome_unknown"``: a refresh of ``generation`` got no answer; ``resends`` says whether its one
  resend was already sent (it is recorded *before* it is sent, so it is never sent twice);
- ``kind="refused"``: Exact refused ``generation`` for good (reused, expired, invalid client): no token call for
  it until a new consent writes a higher generation (or, for invalid client, the client credentials change);
- ``kind="cleared"``: nothing pending.

Each write is one PutSecretValue with its own ClientRequestToken, retried with the same bytes.
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
from ._boto import aws_errors, error_code, is_retryable, make_secretsmanager_client

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["RescueRecord", "RescueStore"]

logger = logging.getLogger("exact_online_sdk.aws.rescue")

RESCUE_SCHEMA = 1
RecordKind = Literal["token", "outcome_unknown", "refused", "cleared"]
_KINDS = ("token", "outcome_unknown", "refused", "cleared")


@dataclass(frozen=True, slots=True)
class RescueRecord:
    """What the rescue secret holds. ``token`` is set for ``kind="token"``; ``generation`` is the generation
    the record is about (the rescued token's, or the stored one whose refresh had an unknown outcome or was
    refused) and ``chain_id`` its chain. ``client`` fingerprints the client credentials of a refusal."""

    kind: RecordKind
    generation: int
    recorded_at: float
    reason: str
    token: Token | None = None
    chain_id: str = ""
    resends: int = 0
    client: str = ""

    def __repr__(self) -> str:
        return (
            f"RescueRecord(kind={self.kind!r}, generation={self.generation}, chain_id={self.chain_id!r}, "
            f"reason={self.reason!r}, resends={self.resends})"
        )

    def about(self, token: Token) -> bool:
        """True when this record concerns ``token``'s chain and generation."""
        return self.chain_id == token.chain_id and self.generation == token.generation

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "schema": RESCUE_SCHEMA,
            "kind": self.kind,
            "generation": self.generation,
            "recorded_at": self.recorded_at,
            "reason": self.reason,
            "chain_id": self.chain_id,
            "resends": self.resends,
            "client": self.client,
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
        if kind not in _KINDS:
            raise ValueError("unknown rescue record kind")
        token = Token.from_state(body["state"]) if kind == "token" else None
        return cls(
            kind=kind,
            generation=int(body["generation"]),
            recorded_at=float(body.get("recorded_at", 0.0)),
            reason=str(body.get("reason", "")),
            token=token,
            chain_id=str(body.get("chain_id") or (token.chain_id if token else "")),
            resends=int(body.get("resends") or 0),
            client=str(body.get("client") or ""),
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
        except aws_errors() as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise TokenStoreError(f"cannot read the rescue store: {error_code(exc) or type(exc).__name__}") from exc
        try:
            record = RescueRecord.from_json(response.get("SecretString") or "")
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenStoreError("the rescue store holds a corrupt record") from exc
        return None if record.kind == "cleared" else record

    def clear(self, generation: int, chain_id: str, recorded_at: float) -> None:
        """Mark that nothing is pending any more (after a rescued token was stored or a chain moved on)."""
        self.save(RescueRecord("cleared", generation, recorded_at, "cleared", chain_id=chain_id))

    def save(self, record: RescueRecord) -> None:
        """Write ``record`` (same ClientRequestToken and bytes on every retry); TokenStoreError if it fails."""
        payload = record.to_json()
        token = str(uuid.uuid4())
        delay = self._retry_delay
        for attempt in range(1, self._attempts + 1):
            try:
                self.client.put_secret_value(SecretId=self.secret_id, ClientRequestToken=token, SecretString=payload)
            except aws_errors() as exc:
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
