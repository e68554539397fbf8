"""Host binding: a token is refreshed at, and sent to, only the Exact host that issued it.

Every token state records ``host``, the origin (``scheme://host[:port]``) of the token endpoint that issued it.
:class:`~.oauth.OAuthProtocol` refuses to build a refresh for a token of another host, and the token sources
(:class:`~.manager.ExactOnlineAuth`, :class:`~.readonly.ReadOnlyTokenStorage`) refuse to hand a token to a client
configured for another host, with :class:`~.errors.TokenHostMismatch` naming both. So a stray ``EXACT_BASE_URL``
(a planted ``.env``, a typo) can never receive the refresh token, the client secret or the access token.

A state written before host binding existed has no ``host``: it is bound on first use. The configured host may
use it, and the next refresh records that host in the new state (see docs/security.md).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from .errors import TokenHostMismatch
from .token import Token

__all__ = ["HostBinding", "bind_token_host", "check_token_host", "origin"]

_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: lower case, default port dropped; ``""`` when it is not a URL."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def check_token_host(token: Token, configured: str, *, action: str = "send it to") -> None:
    """Raise :class:`TokenHostMismatch` when ``token`` was issued by another host than ``configured``.

    A token without a recorded host (written before host binding) passes: it is bound on first use."""
    if not token.host:
        return
    mine = origin(configured)
    if origin(token.host) != mine:
        raise TokenHostMismatch(origin(token.host) or token.host, mine or configured, action=action)


@runtime_checkable
class HostBinding(Protocol):
    """A token source that can be told which host its tokens are sent to (the client tells it)."""

    def bind_host(self, base_url: str) -> None:
        """Hand out only tokens issued by ``base_url``'s host from now on."""
        ...


def bind_token_host(source: object, base_url: str) -> None:
    """Tell ``source`` the host its tokens go to, when it can check that (see :class:`HostBinding`)."""
    if isinstance(source, HostBinding):
        source.bind_host(base_url)
