"""OAuth2 for Exact Online: tokens, the token endpoint, token stores and the refreshing token source.

Names load on first use, so importing the package stays cheap (``cryptography``/``filelock`` are needed only
by the encrypted file store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .errors import (
        AuthorizationCodeInvalid,
        ConsentMismatch,
        InvalidClient,
        OAuthError,
        ReadOnlyRefreshRefused,
        RefreshOutcomeUnknown,
        RefreshTokenExpired,
        RefreshTokenReused,
        StateMismatch,
        TokenEndpointError,
        TokenEndpointUnreachable,
        TokenOutcomeUnknown,
        TokenUnavailable,
        TooEarlyToRefresh,
    )
    from .file import EncryptedFileTokenStorage
    from .manager import ExactOnlineAuth
    from .memory import MemoryTokenStorage
    from .oauth import AsyncOAuthEndpoint, OAuthEndpoint, OAuthProtocol, parse_callback
    from .readonly import ReadOnlyTokenStorage
    from .store import GenerationConflict, TokenStore, TokenStoreError
    from .token import Token

__all__ = [
    "AsyncOAuthEndpoint",
    "AuthorizationCodeInvalid",
    "ConsentMismatch",
    "EncryptedFileTokenStorage",
    "ExactOnlineAuth",
    "GenerationConflict",
    "InvalidClient",
    "MemoryTokenStorage",
    "OAuthEndpoint",
    "OAuthError",
    "OAuthProtocol",
    "ReadOnlyRefreshRefused",
    "ReadOnlyTokenStorage",
    "RefreshOutcomeUnknown",
    "RefreshTokenExpired",
    "RefreshTokenReused",
    "StateMismatch",
    "Token",
    "TokenEndpointError",
    "TokenEndpointUnreachable",
    "TokenOutcomeUnknown",
    "TokenStore",
    "TokenStoreError",
    "TokenUnavailable",
    "TooEarlyToRefresh",
    "parse_callback",
]

_LAZY: dict[str, str] = {
    "Token": ".token",
    "TokenStore": ".store",
    "TokenStoreError": ".store",
    "GenerationConflict": ".store",
    "OAuthEndpoint": ".oauth",
    "AsyncOAuthEndpoint": ".oauth",
    "OAuthProtocol": ".oauth",
    "parse_callback": ".oauth",
    "ExactOnlineAuth": ".manager",
    "EncryptedFileTokenStorage": ".file",
    "MemoryTokenStorage": ".memory",
    "ReadOnlyTokenStorage": ".readonly",
}
_LAZY.update(
    dict.fromkeys(
        (
            "AuthorizationCodeInvalid",
            "ConsentMismatch",
            "InvalidClient",
            "OAuthError",
            "ReadOnlyRefreshRefused",
            "RefreshOutcomeUnknown",
            "RefreshTokenExpired",
            "RefreshTokenReused",
            "StateMismatch",
            "TokenEndpointError",
            "TokenEndpointUnreachable",
            "TokenOutcomeUnknown",
            "TokenUnavailable",
            "TooEarlyToRefresh",
        ),
        ".errors",
    )
)


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
