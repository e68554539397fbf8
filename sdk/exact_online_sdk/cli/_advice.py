"""The next step and exit code for each error of the SDK, by the situation it is shown in (see :mod:`._errors`)."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from ..auth.errors import (
    AuthorizationCodeInvalid,
    InvalidClient,
    OAuthError,
    ReadOnlyRefreshRefused,
    RefreshTokenExpired,
    RefreshTokenReused,
    StateMismatch,
    TokenEndpointError,
    TokenEndpointUnreachable,
    TokenOutcomeUnknown,
    TokenUnavailable,
    TooEarlyToRefresh,
)
from ..auth.store import GenerationConflict, TokenStoreError
from ..edm import EdmValueError
from ..exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    DailyRateLimitExceeded,
    ExactOnlineError,
    ForbiddenError,
    InvalidPathError,
    NotFoundError,
    ODataError,
    PaginationError,
    RateLimitError,
    ServerError,
    TokenError,
    TransportError,
    UnexpectedResponseError,
)
from ..sync import SyncError
from ..webhooks import WebhookError
from ._errors import (
    CONFIG,
    EXIT_API,
    EXIT_AUTH,
    EXIT_RATE,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    LOGIN,
    RUNBOOK,
    Situation,
)

__all__ = ["advice"]


def advice(exc: BaseException, where: Situation) -> tuple[int, str]:
    """The exit code and the next step for ``exc`` shown in ``where``."""
    if isinstance(exc, TokenError):
        return EXIT_AUTH, _token_hint(exc, where)
    if isinstance(exc, OAuthError):
        return _oauth_advice(exc, where)
    if isinstance(exc, APIError):
        return _api_advice(exc, where)
    if isinstance(exc, ConfigError):
        named = f"set {exc.variable} correctly; " if exc.variable else ""
        return EXIT_USAGE, named + CONFIG
    if isinstance(exc, InvalidPathError):
        return EXIT_USAGE, "give a relative endpoint path such as crm/Accounts or current/Me (no host, ?, # or ..)"
    if isinstance(exc, ODataError):
        return EXIT_USAGE, "check --filter and --select: OData v2 as Exact speaks it, e.g. --filter \"Name eq 'Acme'\""
    if isinstance(exc, SyncError):
        return EXIT_USAGE, (
            "sync reads sync endpoints such as sync/CRM/Accounts (`exact-online sync --help`); --select must "
            "allow Timestamp; a corrupt --cursors file can be moved away (the next run reloads everything)"
        )
    if isinstance(exc, EdmValueError):
        return EXIT_UNAVAILABLE, "Exact sent a value the SDK cannot carry; `--verbose` shows where it failed"
    if isinstance(exc, PaginationError):
        return EXIT_UNAVAILABLE, "Exact's paging went wrong; try again, or read less at once with --top"
    if isinstance(exc, WebhookError):
        return EXIT_USAGE, "check the delivery's body and EXACT_WEBHOOK_SECRET (the key of its HashCode)"
    if isinstance(exc, ExactOnlineError):
        own = getattr(exc, "hint", "")
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_API, own or "`--verbose` shows the details"
    if isinstance(exc, OSError):
        return EXIT_USAGE, "check the path and its permissions"
    return EXIT_USAGE, "check the command's options (`--help`)"


# --- the token branch: nothing was sent to Exact's API ----------------------------------------------------------


def _token_hint(exc: TokenError, where: Situation) -> str:
    aws = where.token_source == "aws"
    if isinstance(exc, GenerationConflict):
        return "another process stored a newer token at the same moment; repeat the command (it reads the new one)"
    if isinstance(exc, TokenStoreError):
        if aws:
            return (
                "check EXACT_TOKEN_SECRET_A/_B and that this role may read them (secretsmanager:GetSecretValue and "
                "kms:Decrypt)"
            )
        again = "log in again" if where.logging_in else "run `exact-online auth login`"
        return (
            "EXACT_ENCRYPTION_KEY must be the key the token file (EXACT_TOKEN_PATH) was written with; "
            f"{CONFIG}. If that key is lost, move the file away and {again}"
        )
    if isinstance(exc, ReadOnlyRefreshRefused):
        return (
            "only the refresher rotates this token; wait for its next generation (every ~10 minutes) or check that "
            f"it runs ({RUNBOOK})"
        )
    if isinstance(exc, TokenUnavailable) or type(exc) is TokenError:
        if aws:
            return (
                "check that the refresher runs and its alarms are quiet; before the first consent run the bootstrap "
                f"(scripts/bootstrap_auth.py); see {RUNBOOK}"
            )
        if where.token_source == "none":
            return "run `exact-online auth login` (with EXACT_TOKEN_PATH and EXACT_ENCRYPTION_KEY set); " + CONFIG
        return LOGIN
    # RefreshFailed and any newer member of the branch: a refresher run; its own hint says what next
    return exc.hint or f"see the refresher's log and {RUNBOOK}"


# --- Exact's token endpoint -------------------------------------------------------------------------------------


def _oauth_advice(exc: OAuthError, where: Situation) -> tuple[int, str]:
    if isinstance(exc, TokenEndpointUnreachable):
        return EXIT_UNAVAILABLE, f"check the network and EXACT_BASE_URL ({where.base_url}); trying again is safe"
    if isinstance(exc, TokenEndpointError):
        return EXIT_UNAVAILABLE, "Exact's token endpoint failed; try again in a few minutes"
    if isinstance(exc, InvalidClient):
        return EXIT_AUTH, (
            "check EXACT_CLIENT_ID and EXACT_CLIENT_SECRET, and that EXACT_BASE_URL (or EXACT_REGION) is the "
            "region the app is registered in; " + CONFIG
        )
    if isinstance(exc, AuthorizationCodeInvalid | StateMismatch):
        if where.logging_in:
            return EXIT_AUTH, (
                "start `exact-online auth login` again and paste the URL of that same attempt within 3 minutes; "
                "the redirect URI must equal EXACT_REDIRECT_URI exactly"
            )
        return EXIT_AUTH, exc.hint or LOGIN
    if isinstance(exc, TooEarlyToRefresh):
        return EXIT_AUTH, "the current token is still valid; repeat the command in a minute"
    if isinstance(exc, TokenOutcomeUnknown):
        if where.token_source == "aws":
            return EXIT_AUTH, f"the refresher resends a lost refresh once; check its alarms ({RUNBOOK})"
        return EXIT_AUTH, (
            "repeat the command once (a lost refresh is resent once); if Exact then answers 'Old refresh token "
            "used', run `exact-online auth login`"
        )
    if isinstance(exc, RefreshTokenReused | RefreshTokenExpired):
        if where.logging_in:
            return EXIT_AUTH, "start `exact-online auth login` again"
        if where.token_source == "aws":
            return EXIT_AUTH, f"the token chain is broken: re-consent with the bootstrap, as {RUNBOOK} describes"
        return EXIT_AUTH, LOGIN + (
            "; make sure only one process refreshes this token" if isinstance(exc, RefreshTokenReused) else ""
        )
    if where.logging_in:
        return EXIT_AUTH, exc.hint if exc.hint and "auth login" not in exc.hint else "start the login again"
    return EXIT_AUTH, _login_hint(where)


# --- Exact's API ----------------------------------------------------------------------------------------------


def _api_advice(exc: APIError, where: Situation) -> tuple[int, str]:
    if isinstance(exc, RateLimitError):
        return EXIT_RATE, _rate_hint(exc)
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH, _login_hint(where)
    if isinstance(exc, ForbiddenError):
        return EXIT_API, (
            "the user or the app lacks the right for this endpoint or division (see Reason); check the app's "
            "scopes, and the divisions you can reach with `exact-online divisions`"
        )
    if isinstance(exc, NotFoundError):
        return EXIT_API, _not_found_hint(exc)
    if isinstance(exc, BadRequestError):
        return EXIT_API, "Exact refused the request as sent; check the field names in --filter and --select"
    if isinstance(exc, TransportError):
        if exc.outcome_unknown:
            return EXIT_UNAVAILABLE, "the request may have reached Exact: check the result before repeating a write"
        return EXIT_UNAVAILABLE, f"check the network and EXACT_BASE_URL ({where.base_url}); trying again is safe"
    if isinstance(exc, ServerError):
        return EXIT_UNAVAILABLE, "Exact or the network failed; try again later"
    if isinstance(exc, UnexpectedResponseError):
        return EXIT_UNAVAILABLE, "Exact answered with something other than its JSON (maintenance?); try again later"
    return EXIT_API, "Exact refused the request; `--verbose` shows the full error"


def _login_hint(where: Situation) -> str:
    """What to do when Exact refused the token, by where the token came from."""
    if where.logging_in:
        return "start the login again"
    if where.token_source == "access-token":
        return "EXACT_ACCESS_TOKEN was refused (expired, or issued by another host): unset it or take a new one"
    if where.token_source == "aws":
        return f"Exact refused the refresher's token: check that the refresher runs and its alarms ({RUNBOOK})"
    if where.token_source == "none":
        return "set EXACT_TOKEN_PATH and EXACT_ENCRYPTION_KEY, then run `exact-online auth login`; " + CONFIG
    return LOGIN


def _rate_hint(exc: RateLimitError) -> str:
    when = ""
    if exc.reset_at is not None:
        left = max(0, round(exc.reset_at - datetime.now(UTC).timestamp()))
        when = f" at {datetime.fromtimestamp(exc.reset_at, UTC):%H:%M:%S} UTC ({_duration(left)} from now)"
    if isinstance(exc, DailyRateLimitExceeded) or exc.limit == "daily":
        return f"wait for the limit to reset{when}: the daily calls of this app and division are spent"
    return f"wait for the limit to reset{when}, then repeat the command"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _not_found_hint(exc: APIError) -> str:
    path = _endpoint_path(exc.url or "")
    advice = "paths are case-sensitive, e.g. crm/Accounts; a key in the path must exist"
    if path:
        from ..registry import registry

        if registry().get(path) is None:
            near = _closest(path)
            if near:
                return f"did you mean {near}? ({advice})"
    return advice


def _endpoint_path(url: str) -> str:
    """``crm/Accounts`` from ``https://host/api/v1/1001/crm/Accounts(guid'...')?$top=1``."""
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p]
    if parts[:2] != ["api", "v1"]:
        return ""
    rest = parts[2:]
    if rest and rest[0] == "beta":
        rest = rest[1:]
    if rest and rest[0].isdigit():
        rest = rest[1:]
    return "/".join(rest).split("(", 1)[0]


def _closest(path: str) -> str | None:
    from ..registry import registry

    paths = {e.path.lower(): e.path for e in registry()}
    exact = paths.get(path.lower())
    if exact:
        return exact
    match = difflib.get_close_matches(path.lower(), paths, n=1, cutoff=0.75)
    return paths[match[0]] if match else None
