"""Exact's two error shapes, as exceptions the handlers turn into responses.

- :class:`ApiError`: the REST API's ``{"error":{"code":"","message":{"lang":"","value":"..."}}}`` (FACTS §4), or an
  empty body (401, 429 and some auth failures arrive without one).
- :class:`OAuthError`: the token endpoint's ``{"error":"..","error_description":".."}`` (FACTS §1.3).
"""

from __future__ import annotations

import json

__all__ = ["ApiError", "OAuthError"]


class ApiError(Exception):
    """A REST error answer in Exact's JSON shape (an empty body when ``message`` is None)."""

    def __init__(self, status: int, message: str | None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        """The response body: Exact's error object, ``code`` and ``lang`` empty as Exact sends them."""
        if self.message is None:
            return b""
        return json.dumps({"error": {"code": "", "message": {"lang": "", "value": self.message}}}).encode()


class OAuthError(Exception):
    """A token-endpoint refusal in Exact's shape: status, ``error``, ``error_description``, extra headers."""

    def __init__(
        self, status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        """``{"error": ..}`` plus ``error_description`` when there is one."""
        out = {"error": self.error}
        if self.description is not None:
            out["error_description"] = self.description
        return out
