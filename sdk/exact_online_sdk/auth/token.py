"""The OAuth token state shared by every token store (memory, encrypted file, Secrets Manager slots)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["TOKEN_SCHEMA", "Token"]

TOKEN_SCHEMA = 1
"""Version of the serialized state written by :meth:`Token.to_state`."""


@dataclass(frozen=True, slots=True)
class Token:
    """One access/refresh token pair with its timing and its place in the rotation chain.

    ``issued_at`` and ``expires_at`` are epoch seconds. ``generation`` counts rotations: the bootstrap writes 1,
    every refresh writes the previous generation + 1, and stores compare-and-swap on it. ``repr``/``str`` never
    show the tokens.
    """

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    issued_at: float
    expires_at: float
    generation: int = 1
    token_type: str = "Bearer"
    writer: str = ""

    def __repr__(self) -> str:
        return (
            f"Token(generation={self.generation}, issued_at={self.issued_at:.0f}, "
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
            )
        except (TypeError, ValueError) as exc:
            raise ValueError("token state has a field of the wrong type") from exc

    def replace(self, **changes: Any) -> Token:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
