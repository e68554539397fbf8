"""``ExactOnlineClient`` and ``AsyncExactOnlineClient``: thin I/O shells over the sans-IO core in ``_core``.

Both build requests, pace against the shared rate-limit budget, retry and unwrap responses through the same
code (:func:`exact_online_sdk._core.flow.request_flow`), so the same inputs give the same requests and
decisions. They hold no per-request state and are safe to share across threads (sync) or tasks (async).

``get()`` makes one request. For a collection it returns a :class:`ResultList` (a ``list``) whose
``has_more``/``next_url`` say whether Exact has more rows; when it does, a warning is logged as well, so a
one-page read can never be mistaken for the whole result. Use ``iter_rows()``/``iter_pages()`` to read all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self, TypeVar

import httpx

from ._core.credentials import AsyncTokenSource, StaticToken, TokenSource
from ._core.flow import (
    Action,
    ExactResponse,
    GetToken,
    Page,
    Paginator,
    Send,
    Sleep,
    TransportFailure,
    Unauthorized,
    request_flow,
)
from ._core.ratelimit import RateBudgetBackend, RateLimitSnapshot, shared_budget
from ._core.redact import register_secret
from ._core.request import (
    DEFAULT_USER_AGENT,
    PreparedRequest,
    RequestSpec,
    build_request,
    next_request,
    normalize_base_url,
    same_origin,
)
from ._core.response import RawResponse
from ._core.retry import RetryPolicy
from .clock import Clock, SystemClock
from .exceptions import AuthenticationError, ConfigError, InvalidPathError, UnexpectedResponseError

if TYPE_CHECKING:
    from .api import AsyncServices, Services
    from .config import Settings  # only for annotations: importing pydantic-settings costs ~100 ms

__all__ = ["AsyncExactOnlineClient", "ExactOnlineClient", "ExactResponse", "Page", "ResultList", "RetryPolicy"]

log = logging.getLogger("exact_online_sdk.client")
T = TypeVar("T")


class ResultList(list[dict[str, Any]]):
    """The rows of one page returned by ``get()``. ``has_more`` is True when Exact has further pages
    (``next_url``); ``total_count`` is ``__count`` when ``$inlinecount=allpages`` was asked."""

    next_url: str | None
    total_count: int | None

    def __init__(self, rows: list[dict[str, Any]], next_url: str | None = None, total_count: int | None = None) -> None:
        super().__init__(rows)
        self.next_url = next_url
        self.total_count = total_count

    @property
    def has_more(self) -> bool:
        """True when this is not the whole result."""
        return self.next_url is not None


def _timeout(total: float) -> httpx.Timeout:
    # Split timeouts: connecting should be quick; reading a 1000-row sync page may take a while.
    return httpx.Timeout(total, connect=min(10.0, total), pool=min(10.0, total))


def _failure(exc: httpx.TransportError) -> TransportFailure:
    # Only failures before any byte left the socket are certainly "not sent".
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    kind = type(exc).__name__
    return TransportFailure(kind=kind, detail=str(exc) or kind, maybe_sent=not not_sent)


def _raw(response: httpx.Response) -> RawResponse:
    return RawResponse(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        content=response.content,
    )


def _limit(params: Mapping[str, Any] | None, max_rows: int | None) -> int | None:
    top = None
    if params and params.get("$top") is not None:
        try:
            top = int(params["$top"])
        except (TypeError, ValueError):
            raise ValueError("$top must be an integer") from None
    caps = [c for c in (top, max_rows) if c is not None]
    if any(c < 0 for c in caps):
        raise ValueError("$top and max_rows must not be negative")
    return min(caps) if caps else None


class _Base:
    """Configuration shared by both shells."""

    def __init__(
        self,
        settings: Settings | None,
        *,
        access_token: str | None,
        division: int | None,
        base_url: str | None,
        clock: Clock | None,
        retry: RetryPolicy | None,
        user_agent: str | None,
        language: str | None,
        client_id: str | None,
        timeout: float | None,
        budget: RateBudgetBackend | None,
    ) -> None:
        self.settings = settings
        self.base_url = normalize_base_url(base_url or (settings.host if settings else "https://start.exactonline.nl"))
        self.division = division if division is not None else (settings.division if settings else None)
        if self.division is not None and (isinstance(self.division, bool) or self.division <= 0):
            raise ConfigError("division must be a positive integer", variable="EXACT_DIVISION")
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.user_agent = user_agent or (settings.user_agent if settings else None) or DEFAULT_USER_AGENT
        self.language = language or (settings.language if settings else None)
        self.client_id = client_id or (settings.client_id if settings else None) or ""
        self.timeout = timeout or (settings.timeout if settings else 30.0)
        self._budget_override = budget
        if access_token:
            register_secret(access_token)
        if settings is not None:
            for secret in (settings.client_secret, settings.encryption_key, settings.webhook_secret):
                if secret is not None:
                    register_secret(secret.get_secret_value())

    @classmethod
    def from_secrets_manager(
        cls,
        secret_name: str | None = None,
        *,
        slots: tuple[str, str] | None = None,
        region_name: str | None = None,
        secrets_client: Any = None,
        endpoint_url: str | None = None,
        min_validity: float = 15.0,
        poll_timeout: float = 90.0,
        **kwargs: Any,
    ) -> Self:
        """Alias of :func:`exact_online_sdk.aws.worker.worker_client` for this client class: a worker client
        whose token is read, never refreshed, from the refresher's Secrets Manager slots. Needs the ``[aws]``
        extra. ``kwargs`` go to the constructor (``division=``, ``base_url=``, ``clock=``...)."""
        from .aws.worker import worker_client

        client: Self = worker_client(
            secret_name,
            slots=slots,
            region_name=region_name,
            secrets_client=secrets_client,
            endpoint_url=endpoint_url,
            min_validity=min_validity,
            poll_timeout=poll_timeout,
            client_class=cls,  # type: ignore[arg-type]
            **kwargs,
        )
        return client

    def _prepare(self, spec: RequestSpec) -> PreparedRequest:
        return build_request(
            spec,
            base_url=self.base_url,
            default_division=self.division,
            user_agent=self.user_agent,
            language=self.language,
        )

    def _absolute(self, url: str) -> PreparedRequest:
        if not same_origin(url, self.base_url):
            raise InvalidPathError("the URL is not on the configured Exact host; refusing to send the token there")
        template = self._prepare(RequestSpec("GET", "current/Me"))
        return next_request(url, base_url=self.base_url, template=template)

    def _budget(self, req: PreparedRequest) -> RateBudgetBackend:
        if self._budget_override is not None:
            return self._budget_override
        return shared_budget((self.base_url, self.client_id, _division_of(req.path)))

    def rate_limits(self, division: int | None = None) -> RateLimitSnapshot:
        """What is known of the rate limits of ``division`` (default: the client's) for this app."""
        div = division if division is not None else self.division
        budget = self._budget_override or shared_budget((self.base_url, self.client_id, div))
        return budget.snapshot(self.clock.now())

    def _flow(self, req: PreparedRequest) -> Generator[Action, Any, ExactResponse]:
        return request_flow(
            req, budget=self._budget(req), policy=self.retry, clock=self.clock, request_id=uuid.uuid4().hex[:16]
        )

    def _warn_more(self, path: str, rows: ResultList) -> None:
        if rows.has_more:
            log.warning(
                "get(%r) returned one page of %d rows; Exact has more: use iter_rows() to read them all",
                path,
                len(rows),
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, division={self.division!r})"


def _configured_source(settings: Settings | None, clock: Clock | None) -> TokenSource | None:
    """The token source the settings configure (the token store a login wrote, or EXACT_ACCESS_TOKEN), else None."""
    if settings is None:
        return None
    from .auth.manager import token_source_from_settings

    return token_source_from_settings(settings, clock=clock)


def _division_of(path: str) -> int | None:
    parts = path.split("/")
    # /api/v1/{division}/..., /api/v1/beta/{division}/...; division-less paths have no number there.
    for candidate in parts[3:5]:
        if candidate.isdigit():
            return int(candidate)
    return None


def _division_from_me(me: Any) -> int:
    row = me[0] if isinstance(me, list) and me else me
    value = row.get("CurrentDivision") if isinstance(row, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise UnexpectedResponseError("current/Me did not report a CurrentDivision")
    return int(value)


def _to_result(response: ExactResponse) -> Any:
    body = response.body
    if body.kind == "collection":
        return ResultList(body.rows, body.next_url, body.count)
    return body.data


class ExactOnlineClient(_Base):
    """Synchronous client. ``auth`` is a TokenSource (``ExactOnlineAuth``, a worker provider) or use
    ``access_token=`` for a fixed token. Paths are relative: ``client.get("crm/Accounts", {"$top": 10})``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        auth: TokenSource | None = None,
        access_token: str | None = None,
        division: int | None = None,
        base_url: str | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        language: str | None = None,
        client_id: str | None = None,
        timeout: float | None = None,
        budget: RateBudgetBackend | None = None,
    ) -> None:
        super().__init__(
            settings,
            access_token=access_token,
            division=division,
            base_url=base_url,
            clock=clock,
            retry=retry,
            user_agent=user_agent,
            language=language,
            client_id=client_id,
            timeout=timeout,
            budget=budget,
        )
        self._auth: TokenSource | None = (
            auth or (StaticToken(access_token) if access_token else None) or _configured_source(settings, clock)
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            transport=transport,
            timeout=_timeout(self.timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,
        )

    # -- driving the core ---------------------------------------------------------------------------------

    def _run(self, flow: Generator[Action, Any, T]) -> T:
        try:
            action = next(flow)
            while True:
                try:
                    result = self._perform(action)
                except BaseException as exc:  # let the core return its rate-limit reservation
                    action = flow.throw(exc)
                    continue
                action = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            req = action.request
            headers = dict(req.headers)
            headers["Authorization"] = f"Bearer {action.token}"
            try:
                response = self._http.request(req.method, req.url, headers=headers, content=req.content)
            except httpx.TransportError as exc:
                return _failure(exc)
            return _raw(response)
        if isinstance(action, Sleep):
            self.clock.sleep(action.seconds)
            return None
        if isinstance(action, GetToken):
            return self._token_source().get_access_token()
        if isinstance(action, Unauthorized):
            return self._token_source().on_unauthorized(action.token)
        raise TypeError(f"unknown action {action!r}")  # pragma: no cover

    def _token_source(self) -> TokenSource:
        if self._auth is None:
            raise AuthenticationError("no credentials: pass auth= (a token source) or access_token=")
        return self._auth

    # -- public API ------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        division: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ExactResponse:
        """One call with pacing, retries and envelope unwrapping; raises a typed APIError on failure."""
        req = self._prepare(RequestSpec(method, path, params, json, division, headers))
        return self._run(self._flow(req))

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, division: int | None = None) -> Any:
        """One GET; the unwrapped ``d``: a :class:`ResultList` for collections, a dict for one entity."""
        result = _to_result(self.request("GET", path, params=params, division=division))
        if isinstance(result, ResultList):
            self._warn_more(path, result)
        return result

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        division: int | None = None,
        max_rows: int | None = None,
    ) -> Iterator[Page]:
        """Every page of a collection, following ``__next``; ``$top``/``max_rows`` cap the whole result."""
        limit = _limit(params, max_rows)
        first = self._prepare(RequestSpec("GET", path, params, None, division, None))
        pager = Paginator(first, base_url=self.base_url, limit=limit)
        if limit == 0:
            return
        while pager.request is not None:
            yield pager.accept(self._run(self._flow(pager.request)))

    def iter_rows(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        division: int | None = None,
        max_rows: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a collection (see :meth:`iter_pages`)."""
        for page in self.iter_pages(path, params, division=division, max_rows=max_rows):
            yield from page.rows

    def post(self, path: str, json: Any, *, division: int | None = None) -> dict[str, Any]:
        """Create an entity; returns it as Exact stored it (``Prefer: return=representation``)."""
        data = self.request("POST", path, json=json, division=division).data
        return data if isinstance(data, dict) else {}

    def put(self, path: str, json: Any, *, division: int | None = None) -> None:
        """Partial update (send only changed fields); Exact answers 204."""
        self.request("PUT", path, json=json, division=division)

    def delete(self, path: str, *, division: int | None = None) -> None:
        """Delete an entity; Exact answers 204."""
        self.request("DELETE", path, division=division)

    def current_division(self) -> int:
        """The user's current division from ``current/Me`` (use it when ``EXACT_DIVISION`` is not set)."""
        return _division_from_me(self.get("current/Me", {"$select": "CurrentDivision"}))

    def get_url(self, url: str) -> Any:
        """GET an absolute URL on the configured host, such as a ``__deferred`` navigation link or a
        ``__next`` link; returns what :meth:`get` returns. Other hosts are refused (the token never leaves)."""
        return _to_result(self._run(self._flow(self._absolute(url))))

    @cached_property
    def api(self) -> Services:
        """Typed endpoints by service: ``client.api.crm.accounts.list(top=10)`` (model modules load on first use)."""
        from .api import Services

        return Services(self)

    def close(self) -> None:
        """Close the HTTP connections (only those this client opened)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ExactOnlineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncExactOnlineClient(_Base):
    """The asyncio client: same names and behaviour as :class:`ExactOnlineClient`, awaited."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        auth: AsyncTokenSource | TokenSource | None = None,
        access_token: str | None = None,
        division: int | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        language: str | None = None,
        client_id: str | None = None,
        timeout: float | None = None,
        budget: RateBudgetBackend | None = None,
    ) -> None:
        super().__init__(
            settings,
            access_token=access_token,
            division=division,
            base_url=base_url,
            clock=clock,
            retry=retry,
            user_agent=user_agent,
            language=language,
            client_id=client_id,
            timeout=timeout,
            budget=budget,
        )
        self._auth: AsyncTokenSource | TokenSource | None = (
            auth or (StaticToken(access_token) if access_token else None) or _configured_source(settings, clock)
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport,
            timeout=_timeout(self.timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,
        )

    async def _run(self, flow: Generator[Action, Any, T]) -> T:
        try:
            action = next(flow)
            while True:
                try:
                    result = await self._perform(action)
                except BaseException as exc:  # let the core return its rate-limit reservation
                    action = flow.throw(exc)
                    continue
                action = flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            req = action.request
            headers = dict(req.headers)
            headers["Authorization"] = f"Bearer {action.token}"
            try:
                response = await self._http.request(req.method, req.url, headers=headers, content=req.content)
            except httpx.TransportError as exc:
                return _failure(exc)
            return _raw(response)
        if isinstance(action, Sleep):
            await self.clock.asleep(action.seconds)
            return None
        source = self._auth
        if source is None:
            raise AuthenticationError("no credentials: pass auth= (a token source) or access_token=")
        if isinstance(action, GetToken):
            if isinstance(source, AsyncTokenSource):
                return await source.aget_access_token()
            return source.get_access_token()
        if isinstance(action, Unauthorized):
            if isinstance(source, AsyncTokenSource):
                return await source.aon_unauthorized(action.token)
            return source.on_unauthorized(action.token)
        raise TypeError(f"unknown action {action!r}")  # pragma: no cover

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        division: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ExactResponse:
        """One call with pacing, retries and envelope unwrapping; raises a typed APIError on failure."""
        req = self._prepare(RequestSpec(method, path, params, json, division, headers))
        return await self._run(self._flow(req))

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, division: int | None = None) -> Any:
        """One GET; the unwrapped ``d``: a :class:`ResultList` for collections, a dict for one entity."""
        result = _to_result(await self.request("GET", path, params=params, division=division))
        if isinstance(result, ResultList):
            self._warn_more(path, result)
        return result

    async def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        division: int | None = None,
        max_rows: int | None = None,
    ) -> AsyncIterator[Page]:
        """Every page of a collection, following ``__next``; ``$top``/``max_rows`` cap the whole result."""
        limit = _limit(params, max_rows)
        first = self._prepare(RequestSpec("GET", path, params, None, division, None))
        pager = Paginator(first, base_url=self.base_url, limit=limit)
        if limit == 0:
            return
        while pager.request is not None:
            yield pager.accept(await self._run(self._flow(pager.request)))

    async def iter_rows(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        division: int | None = None,
        max_rows: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of a collection (see :meth:`iter_pages`)."""
        async for page in self.iter_pages(path, params, division=division, max_rows=max_rows):
            for row in page.rows:
                yield row

    async def post(self, path: str, json: Any, *, division: int | None = None) -> dict[str, Any]:
        """Create an entity; returns it as Exact stored it (``Prefer: return=representation``)."""
        data = (await self.request("POST", path, json=json, division=division)).data
        return data if isinstance(data, dict) else {}

    async def put(self, path: str, json: Any, *, division: int | None = None) -> None:
        """Partial update (send only changed fields); Exact answers 204."""
        await self.request("PUT", path, json=json, division=division)

    async def delete(self, path: str, *, division: int | None = None) -> None:
        """Delete an entity; Exact answers 204."""
        await self.request("DELETE", path, division=division)

    async def current_division(self) -> int:
        """The user's current division from ``current/Me`` (use it when ``EXACT_DIVISION`` is not set)."""
        return _division_from_me(await self.get("current/Me", {"$select": "CurrentDivision"}))

    async def get_url(self, url: str) -> Any:
        """GET an absolute URL on the configured host (a ``__deferred`` or ``__next`` link); see :meth:`get`."""
        return _to_result(await self._run(self._flow(self._absolute(url))))

    async def aclose(self) -> None:
        """Close the HTTP connections (only those this client opened)."""
        if self._owns_http:
            await self._http.aclose()

    @cached_property
    def api(self) -> AsyncServices:
        """Typed endpoints by service: ``await client.api.crm.accounts.list(top=10)``."""
        from .api import AsyncServices

        return AsyncServices(self)

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncExactOnlineClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
