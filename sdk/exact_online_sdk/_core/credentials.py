"""How a client obtains the bearer token: the small contract between the HTTP core and ``auth``.

The client never refreshes by itself; it asks its token source. ``auth.ExactOnlineAuth`` (which may
refresh, inside Exact's rules) and the read-only worker providers implement these protocols;
:class:`StaticToken` serves tests and callers who manage tokens themselves.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["AsyncTokenSource", "StaticToken", "TokenSource"]


@runtime_checkable
class TokenSource(Protocol):
    """Gives the access token to send, and handles a 401 (re-read the store once; never loop)."""

    def get_access_token(self) -> str:
        """A currently valid access token (may block while the token is renewed or re-read)."""
        ...

    def on_unauthorized(self, rejected_token: str) -> str | None:
        """Exact answered 401 to ``rejected_token``: return a different token to retry once with, or None."""
        ...


@runtime_checkable
class AsyncTokenSource(Protocol):
    """The asyncio form of :class:`TokenSource`."""

    async def aget_access_token(self) -> str:
        """A currently valid access token."""
        ...

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        """Exact answered 401 to ``rejected_token``: return a different token to retry once with, or None."""
        ...


class StaticToken:
    """A fixed access token (blocking and asyncio); a 401 is final. Its repr never shows the token."""

    __slots__ = ("_token",)

    def __init__(self, access_token: str) -> None:
        self._token = access_token

    def __repr__(self) -> str:
        return "StaticToken(access_token=***)"

    def get_access_token(self) -> str:
        return self._token

    def on_unauthorized(self, rejected_token: str) -> str | None:
        return None

    async def aget_access_token(self) -> str:
        return self._token

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        return None
