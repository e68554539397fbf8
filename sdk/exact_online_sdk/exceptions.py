"""The typed errors of exact_online_sdk: one tree under :class:`ExactOnlineError`.

Catch :class:`ExactOnlineError` for "anything this package raised on purpose". Beside the plain usage errors the
tree has two branches: :class:`APIError` for a call to Exact that failed (it carries the HTTP status, the method,
the URL with secrets masked, Exact's message, the ``Reason`` header and ``context`` with the client-side
``request_id``, the attempt number and the rate-limit snapshot), and :class:`TokenError` for the local token state
(nothing usable stored, a read-only store asked to write, a store that cannot be read, a refresher run that
failed), where no request to Exact's API was made. Errors keep their cause (``raise ... from``) and say what to do
next (``hint``). No error text or repr ever contains a token or secret.

    ExactOnlineError
    ├── ConfigError (also ValueError)            bad settings; names the variable, never the secret value
    ├── InvalidPathError (also ValueError)       a path the client refuses to send
    ├── ODataError (also ValueError)             a filter/query the builder cannot express for Exact
    ├── EdmValueError (also ValueError)          a wire value that does not fit its Edm type (edm.py)
    ├── FieldNotWritableError (also ValueError)  a write names a field Exact does not accept (models)
    ├── PaginationError                          a repeated or foreign ``__next`` link
    ├── SyncError (also ValueError)              a wrongly configured sync or a row without Timestamp (sync.py)
    ├── WebhookError (also ValueError)           a rejected webhook delivery (webhooks.py)
    │   ├── WebhookFormatError                   not an Exact delivery
    │   └── WebhookSignatureError                HashCode mismatch
    ├── TokenError                               the token branch: no request to Exact's API was made
    │   ├── TokenUnavailable                     no usable token (nothing stored, or a worker waited in vain)
    │   ├── ReadOnlyRefreshRefused               a read-only store was asked to refresh or save
    │   ├── TokenStoreError                      a store could not be read or written (auth/store.py)
    │   │   └── GenerationConflict               a save lost the compare-and-swap on ``generation``
    │   └── RefreshFailed                        a refresher run could not keep the token fresh (aws/refresher.py)
    └── APIError                                 the API branch: a call to Exact failed
        ├── AuthenticationError                  401 or another auth problem
        │   └── OAuthError                       Exact's token endpoint refused or failed (auth/errors.py)
        ├── ForbiddenError                       403 (``reason`` holds Exact's ``Reason`` header)
        ├── NotFoundError                        404
        ├── BadRequestError                      400, 405, 409, 422 (``ValidationError`` is a deprecated alias)
        ├── RateLimitError                       429 (minutely); ``reset_at`` epoch seconds
        │   └── DailyRateLimitExceeded           the daily budget is spent; raised before sending
        ├── ServerError                          5xx
        ├── TransportError                       no HTTP answer (connect error, timeout, broken stream)
        └── UnexpectedResponseError              a 2xx that is not the JSON Exact should send
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._core.redact import redact_text, redact_url

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "DailyRateLimitExceeded",
    "ExactOnlineError",
    "ForbiddenError",
    "InvalidPathError",
    "NotFoundError",
    "ODataError",
    "PaginationError",
    "RateLimitError",
    "ServerError",
    "TokenError",
    "TransportError",
    "UnexpectedResponseError",
    "error_class_for_status",
]


class ExactOnlineError(Exception):
    """Base class of every error this package raises on purpose.

    ``hint`` says what to do next when there is something specific to do (empty otherwise)."""

    hint: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses have keyword-only or differently shaped constructors: rebuild from the state rather than by
        # calling the constructor again, so pickling (multiprocessing, Prefect) gives back the same error.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[ExactOnlineError], args: tuple[Any, ...], state: dict[str, Any]) -> ExactOnlineError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ConfigError(ExactOnlineError, ValueError):
    """A setting is missing or invalid; ``variable`` names it (``EXACT_DIVISION``...); never shows secrets."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class InvalidPathError(ExactOnlineError, ValueError):
    """A request path the client refuses: ``..``, ``?``/``#`` inside the path, or a URL on another host."""


class ODataError(ExactOnlineError, ValueError):
    """A query that cannot be expressed in Exact's OData v2 dialect (bad field name, v4-only syntax, ...)."""


class PaginationError(ExactOnlineError):
    """Paging went wrong: Exact repeated a ``__next`` link (a loop) or pointed it at another host."""

    def __init__(self, message: str, *, url: str | None = None, pages: int | None = None) -> None:
        super().__init__(redact_text(message))
        self.url = redact_url(url) if url else None
        self.pages = pages


class TokenError(ExactOnlineError):
    """The token branch: no usable access token, or the token state could not be read, written or refreshed.

    No request to Exact's API was made (answers of Exact's token endpoint are :class:`~.auth.errors.OAuthError`,
    in the API branch). ``message`` says what happened, ``hint`` what to do next (shown as ``Next: ...``),
    ``retryable`` whether the same step may succeed later, ``context`` holds details (e.g. the generation).
    """

    default_message = "no usable Exact Online token"
    default_retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        hint: str | None = None,
        retryable: bool | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = redact_text(message) if message else self.default_message
        if hint is not None:
            self.hint = hint
        self.retryable = self.default_retryable if retryable is None else retryable
        self.context: dict[str, Any] = dict(context or {})
        super().__init__(self._summary())

    def _summary(self) -> str:
        return f"{self.message.rstrip('.')}. Next: {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return self._summary()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class APIError(ExactOnlineError):
    """A call to Exact failed. Every argument is keyword-only with a default, so subclasses and auth flows can
    raise it without an HTTP response at hand.

    Attributes: ``status_code`` (None without an HTTP answer), ``method``, ``url`` (secrets masked),
    ``message`` (Exact's text or ours), ``reason`` (the ``Reason`` header), ``error_code`` (Exact's usually
    empty ``error.code``), ``retryable`` (whether the same request may succeed later) and ``context`` (dict
    with ``request_id``, ``attempt`` and ``rate_limits``).
    """

    default_message = "Exact Online request failed"
    default_retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
        reason: str | None = None,
        error_code: str | None = None,
        retryable: bool | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = redact_text(message) if message else self.default_message
        self.status_code = status_code
        self.method = method.upper() if method else None
        self.url = redact_url(url) if url else None
        self.reason = redact_text(reason) if reason else None
        self.error_code = error_code or None
        self.retryable = self.default_retryable if retryable is None else retryable
        self.context: dict[str, Any] = dict(context or {})
        super().__init__(self._summary())

    @property
    def request_id(self) -> str | None:
        """The client-side id of the failed request (also in ``context["request_id"]``)."""
        value = self.context.get("request_id")
        return str(value) if value is not None else None

    @property
    def rate_limits(self) -> Any:
        """The rate-limit snapshot of the division at the time of the error, if known."""
        return self.context.get("rate_limits")

    def _summary(self) -> str:
        parts = []
        if self.status_code is not None:
            parts.append(str(self.status_code))
        if self.method and self.url:
            parts.append(f"{self.method} {self.url}")
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.reason:
            text += f" (Reason: {self.reason})"
        if self.request_id:
            text += f" [request_id={self.request_id}]"
        return text

    def __str__(self) -> str:
        return self._summary()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, method={self.method!r}, "
            f"url={self.url!r}, message={self.message!r}, reason={self.reason!r}, "
            f"request_id={self.request_id!r})"
        )


class AuthenticationError(APIError):
    """Exact refused the credentials (401), or no usable token is available."""

    default_message = "authentication with Exact Online failed"


class ForbiddenError(APIError):
    """403: no right, scope or division access, or a blocked user/customer (see ``reason``)."""

    default_message = "forbidden"


class NotFoundError(APIError):
    """404: unknown endpoint (paths are case-sensitive) or entity."""

    default_message = "not found"


class BadRequestError(APIError):
    """400/405/409/422: Exact rejected the request (validation, unsupported filter, mandatory filter...)."""

    default_message = "bad request"


class RateLimitError(APIError):
    """429: a rate limit is exhausted. ``reset_at`` (epoch seconds) says when it refills; ``limit`` is
    ``"minutely"`` or ``"daily"``. Exact did not process a 429, so any request may be retried after it."""

    default_message = "rate limit exceeded"
    default_retryable = True

    def __init__(
        self,
        message: str | None = None,
        *,
        reset_at: float | None = None,
        limit: str = "minutely",
        **kwargs: Any,
    ) -> None:
        self.reset_at = reset_at
        self.limit = limit
        super().__init__(message, **kwargs)

    @property
    def reset_datetime(self) -> datetime | None:
        """``reset_at`` as an aware UTC datetime."""
        return None if self.reset_at is None else datetime.fromtimestamp(self.reset_at, UTC)

    def _summary(self) -> str:
        text = super()._summary()
        if self.reset_at is not None:
            text += f" (resets at {self.reset_datetime:%Y-%m-%dT%H:%M:%SZ})"
        return text


class DailyRateLimitExceeded(RateLimitError):
    """The daily budget (per app and division) is spent: raised before sending until ``reset_at``."""

    default_message = "daily rate limit exhausted"
    default_retryable = False

    def __init__(self, message: str | None = None, *, reset_at: float | None = None, **kwargs: Any) -> None:
        kwargs.pop("limit", None)
        super().__init__(message, reset_at=reset_at, limit="daily", **kwargs)


class ServerError(APIError):
    """5xx from Exact."""

    default_message = "Exact Online server error"
    default_retryable = True


class TransportError(APIError):
    """No HTTP answer: connection refused or reset, DNS, TLS, timeout. ``status_code`` is None.

    ``outcome_unknown`` is True when the request may have reached Exact (e.g. a POST that timed out after
    sending): the client does not resend such a request unless the caller opted in."""

    default_message = "transport error"
    default_retryable = True

    def __init__(self, message: str | None = None, *, outcome_unknown: bool = False, **kwargs: Any) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, **kwargs)


class UnexpectedResponseError(APIError):
    """A 2xx that is not the JSON Exact should send (an HTML maintenance page, Atom XML, a truncated body).

    ``content_type`` and ``excerpt`` (first characters, secrets masked) describe it; ``retryable`` is True for
    shapes that are usually transient (HTML pages, truncated JSON)."""

    default_message = "unexpected response from Exact Online"

    def __init__(
        self,
        message: str | None = None,
        *,
        content_type: str | None = None,
        excerpt: str = "",
        **kwargs: Any,
    ) -> None:
        self.content_type = content_type
        self.excerpt = redact_text(excerpt)
        super().__init__(message, **kwargs)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    405: BadRequestError,
    409: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIError]:
    """The error class for an HTTP status (5xx -> ServerError, unknown 4xx -> APIError)."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


_DEPRECATED_ALIASES: dict[str, tuple[type[ExactOnlineError], str]] = {
    # The seed package's name; it shadowed pydantic's ValidationError in every module importing both.
    "ValidationError": (BadRequestError, "BadRequestError"),
}


def __getattr__(name: str) -> Any:
    alias = _DEPRECATED_ALIASES.get(name)
    if alias is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    target, new_name = alias
    warnings.warn(
        f"exact_online_sdk.exceptions.{name} is deprecated: use {new_name} (same class)",
        DeprecationWarning,
        stacklevel=2,
    )
    return target
