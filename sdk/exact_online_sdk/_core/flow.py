"""The request state machine shared by the blocking and asyncio clients.

:func:`request_flow` is a generator: it *yields* the I/O it needs (:class:`GetToken`, :class:`Unauthorized`,
:class:`Send`, :class:`Sleep`) and receives the results; it raises typed errors and returns an
:class:`ExactResponse`. The blocking shell drives it with blocking calls, the async shell with awaits, so both make
the same requests and the same decisions by construction. :class:`Paginator` does the same for ``__next``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..exceptions import (
    APIError,
    DailyRateLimitExceeded,
    InvalidHeaderError,
    PaginationError,
    RateLimitError,
    TransportError,
    UnexpectedResponseError,
)
from .ratelimit import RateBudgetBackend, RateLimitSnapshot
from .redact import redact_url
from .request import PreparedRequest, header_problem, next_request, same_origin
from .response import Body, RawResponse, error_for_response, parse_body
from .retry import RetryPolicy, parse_retry_after

__all__ = [
    "Action",
    "BodyParser",
    "ExactResponse",
    "GetToken",
    "Page",
    "Paginator",
    "Send",
    "Sleep",
    "TransportFailure",
    "Unauthorized",
    "request_flow",
]

log = logging.getLogger("exact_online_sdk.http")


@dataclass(frozen=True, slots=True)
class GetToken:
    """Ask the token source for the access token to send."""


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """Tell the token source Exact rejected ``token``; the answer is a new token or None."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request`` with ``Authorization: Bearer <token>``; the answer is a RawResponse or TransportFailure."""

    request: PreparedRequest
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep ``seconds`` on the injected clock."""

    seconds: float


Action = GetToken | Unauthorized | Send | Sleep

BodyParser = Callable[..., Body]
"""Reads a 2xx response into a :class:`Body` (``parse_body``'s signature); the typed API passes its row decoder."""


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No HTTP answer. ``maybe_sent`` is False only when Exact cannot have received the request; ``local`` is True
    when the request could not even be written (a header or URL HTTP cannot carry): the same would fail again."""

    kind: str
    detail: str
    maybe_sent: bool
    local: bool = False


@dataclass(slots=True)
class ExactResponse:
    """A successful answer: status, headers, raw ``content`` and the unwrapped ``body``."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    body: Body
    method: str
    url: str
    request_id: str
    attempts: int
    rate_limits: RateLimitSnapshot

    @property
    def data(self) -> Any:
        """The unwrapped ``d``: a list of rows, an entity dict, a scalar or None."""
        return self.body.data

    def json(self) -> Any:
        """Alias of :attr:`data`."""
        return self.body.data

    def __repr__(self) -> str:
        return (
            f"ExactResponse(status_code={self.status_code}, method={self.method!r}, url={redact_url(self.url)!r},"
            f" request_id={self.request_id!r})"
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: ``rows`` (no ``__metadata``, numbers as Decimal), ``next_url``, ``count``,
    the raw ``content`` (for fast typed parsing) and the page ``number`` (1-based)."""

    rows: list[dict[str, Any]]
    next_url: str | None
    count: int | None
    content: bytes
    number: int
    url: str

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Page(number={self.number}, rows={len(self.rows)}, has_next={self.next_url is not None})"


def _context(request_id: str, attempt: int, snap: RateLimitSnapshot) -> dict[str, Any]:
    return {"request_id": request_id, "attempt": attempt, "rate_limits": snap.as_dict()}


def _transport_error(failure: TransportFailure, req: PreparedRequest, ctx: dict[str, Any]) -> TransportError:
    if failure.local:
        return TransportError(
            f"not sent: {failure.kind}: {failure.detail}",
            method=req.method,
            url=req.url,
            retryable=False,
            outcome_unknown=False,
            context=ctx,
        )
    unknown = failure.maybe_sent and req.method == "POST"
    hint = " (the POST may have reached Exact: not resent)" if unknown else ""
    return TransportError(
        f"{failure.kind}: {failure.detail}{hint}",
        method=req.method,
        url=req.url,
        outcome_unknown=unknown,
        context=ctx,
    )


def _sendable(token: Any) -> str:
    """``token`` when ``Bearer <token>`` is a valid header value; a broken token store must not turn into a
    raw encoding error or an h11 message quoting the token."""
    if not isinstance(token, str) or header_problem("Authorization", f"Bearer {token}"):
        raise InvalidHeaderError(
            "the access token from the token source cannot be sent in an Authorization header "
            "(control or non-ASCII characters, or not text): is the token store corrupt?"
        )
    return token


def request_flow(
    req: PreparedRequest,
    *,
    budget: RateBudgetBackend,
    policy: RetryPolicy,
    clock: Clock,
    request_id: str,
    parse: BodyParser = parse_body,
) -> Generator[Action, Any, ExactResponse]:
    """Send ``req`` with pacing, retries and one re-authentication; return the response read by ``parse``."""
    started = clock.now()
    token: str = _sendable((yield GetToken()))
    reauthenticated = False
    attempt = 0
    failures = 0
    while True:
        attempt += 1
        # Pacing: wait for the shared budget before sending (one sleep per attempt, bounded by the deadline).
        while True:
            try:
                wait = budget.acquire(clock.now())
            except DailyRateLimitExceeded as exc:
                exc.method, exc.url = req.method, redact_url(req.url)
                exc.context.setdefault("request_id", request_id)
                raise
            if wait <= 0:
                break
            if wait > policy.max_rate_limit_wait or clock.now() + wait - started > policy.deadline:
                snap = budget.snapshot(clock.now())
                raise RateLimitError(
                    f"rate limit reached; the next call is allowed in {wait:.1f} s, beyond the retry deadline",
                    method=req.method,
                    url=req.url,
                    reset_at=clock.now() + wait,
                    context=_context(request_id, attempt, snap),
                )
            log.debug("pacing %s %s: waiting %.2f s for the rate-limit window", req.method, req.path, wait)
            yield Sleep(wait)
        sent_at = clock.now()
        try:
            result: RawResponse | TransportFailure = yield Send(req, token)
        except BaseException:
            budget.release(clock.now(), None)
            raise
        now = clock.now()
        error: APIError
        retry_after: float | None = None
        if isinstance(result, TransportFailure):
            budget.release(now, None)
            error = _transport_error(result, req, _context(request_id, attempt, budget.snapshot(now)))
            _log_line(req, None, sent_at, now, attempt, budget, request_id)
        else:
            status = result.status_code
            budget.release(now, result.headers, rejected=status == 429)
            _log_line(req, status, sent_at, now, attempt, budget, request_id)
            snap = budget.snapshot(now)  # one read of the budget per answer (a shared budget may be remote)
            ctx = _context(request_id, attempt, snap)
            if 200 <= status < 300:
                try:
                    body = parse(result, method=req.method, url=req.url, context=ctx)
                except UnexpectedResponseError as exc:
                    error = exc
                else:
                    return ExactResponse(
                        status_code=status,
                        headers=result.headers,
                        content=result.content,
                        body=body,
                        method=req.method,
                        url=req.url,
                        request_id=request_id,
                        attempts=attempt,
                        rate_limits=snap,
                    )
            else:
                if status == 401 and not reauthenticated:
                    reauthenticated = True
                    new_token = yield Unauthorized(token)
                    if new_token and new_token != token:
                        log.info("401 on %s %s: retrying once with a re-read token", req.method, req.path)
                        token = _sendable(new_token)
                        continue
                error = error_for_response(result, method=req.method, url=req.url, context=ctx)
                retry_after = parse_retry_after(result.headers, now)
                if isinstance(error, RateLimitError):
                    if error.limit == "daily":
                        raise DailyRateLimitExceeded(
                            error.message if error.message != RateLimitError.default_message else None,
                            reset_at=snap.daily_reset,
                            status_code=429,
                            method=req.method,
                            url=req.url,
                            context=ctx,
                        )
                    error.reset_at = snap.minutely_reset
        if not isinstance(error, RateLimitError):
            failures += 1
        if not policy.may_retry(req.method, error) or failures >= policy.max_attempts:
            raise error
        if isinstance(error, RateLimitError) and retry_after is None:
            continue  # the pacing loop above sleeps until the reset
        delay = policy.delay(req.method, error, failures, retry_after=retry_after, rate_wait=None)
        if clock.now() + delay - started > policy.deadline:
            raise error
        log.debug("retrying %s %s in %.2f s after %s", req.method, req.path, delay, type(error).__name__)
        yield Sleep(delay)


def _log_line(
    req: PreparedRequest,
    status: int | None,
    sent_at: float,
    now: float,
    attempt: int,
    budget: RateBudgetBackend,
    request_id: str,
) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    remaining = budget.snapshot(now).minutely_remaining
    ms = round((now - sent_at) * 1000)
    log.debug(
        "%s %s -> %s in %d ms (attempt %d, minutely remaining %s)",
        req.method,
        req.path,
        status if status is not None else "no answer",
        ms,
        attempt,
        remaining,
        extra={
            "http_method": req.method,
            "http_path": req.path,
            "http_status": status,
            "duration_ms": ms,
            "attempt": attempt,
            "minutely_remaining": remaining,
            "request_id": request_id,
        },
    )


_UNSENDABLE = re.compile("[\x00-\x20\x7f\ud800-\udfff]")
MAX_LINK_LENGTH = 65_536
"""The longest ``__next`` followed (httpx's own URL limit); Exact's links repeat the query, a few KB at most."""


def _link_problem(url: str) -> str | None:
    """Why a ``__next`` link cannot be sent as a request line, or None."""
    if len(url) > MAX_LINK_LENGTH:
        return f"is longer than {MAX_LINK_LENGTH} characters"
    if _UNSENDABLE.search(url):
        return "contains whitespace, control characters or unpaired surrogates"
    return None


class Paginator:
    """Pagination state for one read (kept in the iterator, never on the client).

    Follows ``__next`` verbatim when it points at the configured host, caps the whole result at ``limit`` rows
    (from ``$top`` and/or ``max_rows``), and raises PaginationError on a repeated or foreign ``__next``.
    """

    def __init__(self, first: PreparedRequest, *, base_url: str, limit: int | None) -> None:
        self.request: PreparedRequest | None = first
        self._first = first
        self._base_url = base_url
        self._limit = limit
        self._seen: set[str] = {first.url}
        self.rows_yielded = 0
        self.pages = 0

    def accept(self, response: ExactResponse) -> Page:
        """Turn a response into the page to yield and prepare the next request (or None when done)."""
        self.pages += 1
        body = response.body
        if body.kind == "entity" and body.entity is not None:
            rows, next_url, count = [body.entity], None, None
        elif body.kind == "collection":
            rows, next_url, count = body.rows, body.next_url, body.count
        elif body.kind == "empty":
            rows, next_url, count = [], None, None
        else:
            raise PaginationError(f"expected a collection, got a bare {type(body.value).__name__}", url=response.url)
        if self._limit is not None and self.rows_yielded + len(rows) >= self._limit:
            # The cap is reached: stop here (``next_url`` still tells whether Exact had more).
            rows = rows[: self._limit - self.rows_yielded]
            self.rows_yielded += len(rows)
            self.request = None
            return Page(rows, next_url, count, response.content, self.pages, response.url)
        self.rows_yielded += len(rows)
        if not next_url:
            self.request = None
        else:
            if next_url in self._seen:
                raise PaginationError(
                    f"Exact repeated a __next link after {self.pages} pages (paging loop)",
                    url=next_url,
                    pages=self.pages,
                )
            problem = _link_problem(next_url)
            if problem:
                raise PaginationError(f"Exact sent a __next link that {problem}", url=None, pages=self.pages)
            if not same_origin(next_url, self._base_url):
                raise PaginationError("__next points at another host; refusing to send the token there", url=next_url)
            self._seen.add(next_url)
            self.request = next_request(next_url, base_url=self._base_url, template=self._first)
        return Page(rows, next_url, count, response.content, self.pages, response.url)
