"""The OAuth token state shared by every token store (memory, encrypted file, Secrets Manager slots)."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["TOKEN_SCHEMA", "Token", "new_chain_id", "utc_day"]

TOKEN_SCHEMA = 1
"""Version of the serialized state written by :meth:`Token.to_state`."""


def new_chain_id() -> str:
    """A fresh chain id, minted when a consent (authorization-code exchange) starts a new chain."""
    return secrets.token_hex(8)


def utc_day(when: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of an epoch second: Exact's token-call quota is counted per day."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Token:
    """One access/refresh token pair with its timing and its place in the rotation chain.

    ``issued_at`` and ``expires_at`` are epoch seconds on **Exact's clock** (its ``Date`` header), the one time
    base of the chain. ``generation`` counts rotations: a consent writes the stored generation + 1 (1 into an
    empty store), every refresh the previous generation + 1, and stores compare-and-swap on it. ``chain_id`` is
    minted at each consent and kept by every refresh of that chain (a rescue copy of another chain is never
    restored). ``clock_offset`` is Exact's clock minus the writer's clock when it wrote (readers on the same
    time base as the writer use it until they measure their own). ``calls_day``/``calls_today`` count the
    token-endpoint calls of that UTC day (Exact allows about 200). ``repr``/``str`` never show the tokens.
    """

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    issued_at: float
    expires_at: float
    generation: int = 1
    token_type: str = "Bearer"
    writer: str = ""
    chain_id: str = ""
    clock_offset: float = 0.0
    calls_day: str = ""
    calls_today: int = 0

    def __repr__(self) -> str:
        return (
            f"Token(generation={self.generation}, chain_id={self.chain_id!r}, issued_at={self.issued_at:.0f}, "
            f"expires_at={self.expires_at:.0f}, token_type={self.token_type!r}, access_token=***, "
            f"refresh_token=***)"
        )

    __str__ = __repr__

    def expires_in(self, now: float) -> float:
        """Seconds of validity left at ``now`` (negative once expired)."""
        return self.expires_at - now

    def age(self, now: float) -> float:
        """Seconds since the token was issued."""
        return now - self.issued_at

    def to_state(self) -> dict[str, Any]:
        """The versioned JSON-ready state a store persists (contains secrets: never log it)."""
        return {
            "schema": TOKEN_SCHEMA,
            "generation": self.generation,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "writer": self.writer,
            "chain_id": self.chain_id,
            "clock_offset": self.clock_offset,
            "calls_day": self.calls_day,
            "calls_today": self.calls_today,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Token:
        """Inverse of :meth:`to_state`; raises ValueError naming the problem (never echoing a secret)."""
        if not isinstance(state, dict):
            raise ValueError("token state is not a JSON object")
        schema = state.get("schema")
        if schema != TOKEN_SCHEMA:
            raise ValueError(f"unsupported token state schema {schema!r} (expected {TOKEN_SCHEMA})")
        missing = [
            k for k in ("generation", "access_token", "refresh_token", "issued_at", "expires_at") if k not in state
        ]
        if missing:
            raise ValueError(f"token state lacks {', '.join(missing)}")
        try:
            return cls(
                access_token=str(state["access_token"]),
                refresh_token=str(state["refresh_token"]),
                issued_at=float(state["issued_at"]),
                expires_at=float(state["expires_at"]),
                generation=int(state["generation"]),
                token_type=str(state.get("token_type", "Bearer")),
                writer=str(state.get("writer", "")),
                chain_id=str(state.get("chain_id") or ""),
                clock_offset=float(state.get("clock_offset") or 0.0),
                calls_day=str(state.get("calls_day") or ""),
                calls_today=int(state.get("calls_today") or 0),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError("token state has a field of the wrong type") from exc

    def calls_on(self, day: str) -> int:
        """Token-endpoint calls recorded for the UTC ``day`` (``YYYY-MM-DD``); 0 for another day."""
        return self.calls_today if self.calls_day == day else 0

    def replace(self, **changes: Any) -> Token:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
