"""Typed errors of the OAuth flows and the token state: each says what went wrong and what to do next, never a
secret. The whole tree is in :mod:`exact_online_sdk.exceptions`; the part defined here:

APIError > AuthenticationError (exceptions.py): the API branch, a request to Exact's token endpoint
└── OAuthError                         a token-endpoint or flow problem; ``oauth_error`` is Exact's ``error``
    ├── TooEarlyToRefresh              Exact's 570 s rule refused the refresh (the current token still works)
    ├── RefreshTokenReused             "Old refresh token used": the chain is broken, log in again
    ├── RefreshTokenExpired            the refresh token is older than 30 days (or was revoked)
    ├── InvalidClient                  wrong client id/secret or wrong regional host
    ├── AuthorizationCodeInvalid       a code that expired (3 min), was used before, or has the wrong redirect
    ├── StateMismatch                  the callback's ``state`` is not the one this flow sent
    ├── TokenEndpointUnreachable       nothing reached Exact (connect error): safe to try again later
    ├── TokenEndpointError             another answer (5xx, 429, malformed body)
    └── TokenOutcomeUnknown            the request may have reached Exact but no answer came back
        └── RefreshOutcomeUnknown      ...for a refresh: resent exactly once, then re-consent if it was spent

TokenError (exceptions.py): the token branch, no request to Exact was made
├── TokenUnavailable                   no usable token (nothing stored, or a worker waited in vain)
└── ReadOnlyRefreshRefused             a read-only store was asked to refresh or save
"""

from __future__ import annotations

from typing import Any

from ..exceptions import AuthenticationError, TokenError

__all__ = [
    "LOGIN_HINT",
    "AuthorizationCodeInvalid",
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
]

LOGIN_HINT = "re-run `exact-online auth login` (or scripts/bootstrap_auth.py) to authorize again"


class OAuthError(AuthenticationError):
    """A problem of the OAuth flow. ``hint`` says what to do next; ``oauth_error`` is the server's ``error``."""

    default_message = "OAuth token request failed"
    hint = ""

    def __init__(
        self, message: str | None = None, *, oauth_error: str | None = None, hint: str | None = None, **kw: Any
    ) -> None:
        self.oauth_error = oauth_error
        if hint is not None:
            self.hint = hint
        super().__init__(message, **kw)

    def _summary(self) -> str:
        text = super()._summary()
        return f"{text.rstrip('.')}. Next: {self.hint}" if self.hint else text


class TooEarlyToRefresh(OAuthError):
    """Exact refuses a refresh less than 570 s after the current access token was issued."""

    default_message = "Exact refused the refresh: the current access token is less than 570 s old"
    hint = "keep using the current access token and refresh in the last 30 s of its life (no action needed)"
    default_retryable = True


class RefreshTokenReused(OAuthError):
    """Exact answered "Old refresh token used": another process rotated the token, or a rotation was lost."""

    default_message = "Exact refused a refresh token that was already used (the token chain is broken)"
    hint = LOGIN_HINT + "; make sure only one process refreshes (workers must use ReadOnlyTokenStorage)"


class RefreshTokenExpired(OAuthError):
    """The refresh token expired (unused for 30 days) or was revoked."""

    default_message = "the refresh token has expired or was revoked"
    hint = LOGIN_HINT


class InvalidClient(OAuthError):
    """Exact does not know the client id/secret (or they belong to another regional host)."""

    default_message = "Exact rejected the client credentials (invalid_client)"
    hint = (
        "check EXACT_CLIENT_ID and EXACT_CLIENT_SECRET, and that EXACT_BASE_URL is the region the app is registered in"
    )


class AuthorizationCodeInvalid(OAuthError):
    """The authorization code was refused: older than 3 minutes, already used, or the redirect URI differs."""

    default_message = "Exact refused the authorization code"
    hint = (
        "run the login again and paste the callback URL within 3 minutes; the redirect URI must equal "
        "EXACT_REDIRECT_URI exactly"
    )


class StateMismatch(OAuthError):
    """The callback's ``state`` differs from the one sent (a stale or forged callback)."""

    default_message = "the callback's state does not match the authorization request"
    hint = "start the login again and use the callback of that same attempt"


class TokenUnavailable(TokenError):
    """No usable token: nothing was stored, or a worker waited in vain for the refresher's next generation."""

    default_message = "no valid access token is available"
    hint = LOGIN_HINT + " if nothing is stored; otherwise check that the token refresher is running"
    default_retryable = True


class ReadOnlyRefreshRefused(TokenError):
    """A read-only token store was asked to refresh or save: only the refresher may do that."""

    default_message = "this token store is read-only: workers never refresh or save tokens"
    hint = "let the single refresher process rotate the token; workers read it through ReadOnlyTokenStorage"


class TokenEndpointUnreachable(OAuthError):
    """The token request never reached Exact (connection refused, DNS, connect timeout): nothing was spent."""

    default_message = "could not connect to Exact's token endpoint"
    hint = "check the network and EXACT_BASE_URL; trying again later is safe"
    default_retryable = True


class TokenEndpointError(OAuthError):
    """Exact's token endpoint answered something else (5xx, 429, a body that is not a token)."""

    default_message = "unexpected answer from Exact's token endpoint"
    hint = "try again later; if it persists check Exact's status page"


class TokenOutcomeUnknown(OAuthError):
    """A token request may have reached Exact, but no answer came back (read timeout, dropped connection)."""

    default_message = "the token request timed out: its outcome at Exact is unknown"
    hint = LOGIN_HINT + " if the stored token stops working"
    default_retryable = False


class RefreshOutcomeUnknown(TokenOutcomeUnknown):
    """A refresh timed out after sending: Exact may already have rotated the refresh token, or not.

    The same refresh token is resent exactly once (at once when time allows, else on the next run): if Exact
    had not rotated, the resend keeps the chain alive; if it had, the rotated token was lost either way and the
    resend gets "Old refresh token used" (:class:`RefreshTokenReused`): re-consent. The stored access token
    stays usable until it expires. ``generation`` is the stored generation that was being refreshed."""

    default_message = "the refresh request got no answer: Exact may or may not have rotated the refresh token"
    hint = (
        "the same refresh token is resent once automatically (refresh(retry_unknown=True) does it on request); "
        "if Exact then answers 'Old refresh token used' the rotation happened and its answer was lost: " + LOGIN_HINT
    )

    def __init__(self, message: str | None = None, *, generation: int | None = None, **kw: Any) -> None:
        self.generation = generation
        super().__init__(message, **kw)
