"""``ExactOnlineClient`` and ``AsyncExactOnlineClient``: thin I/O shells over the sans-IO core in ``_core``.

Both build requests, pace against the shared rate-limit budget, retry and unwrap responses through the same
code (:func:`exact_online_sdk._core.flow.request_flow`), so the same inputs give the same requests and
decisions. They hold no per-request state and are safe to share across threads (blocking) or tasks (asyncio).

``get()`` makes one request. For a collection it returns a :class:`ResultList` (a ``list``) whose
``has_more``/``next_url`` say whether Exact has more rows; when it does, a warning is logged as well, so a
one-page read can never be mistaken for the whole result. Use ``iter_rows()``/``iter_pages()`` to read all.

Building a client (the same for :class:`AsyncExactOnlineClient`):

1. ``ExactOnlineClient(settings=Settings.from_env())``: everything from the ``EXACT_*`` variables, including the
   token source: ``EXACT_ACCESS_TOKEN`` (a fixed token, never refreshed), else the encrypted token file
   ``EXACT_TOKEN_PATH`` + ``EXACT_ENCRYPTION_KEY`` written by ``exact-online auth login`` (refreshed inside Exact's
   rules by :class:`~exact_online_sdk.auth.ExactOnlineAuth`).
2. ``ExactOnlineClient(settings, auth=source)``: your own token source (``ExactOnlineAuth`` with another store,
   ``ReadOnlyTokenStorage``, anything with ``get_access_token``/``on_unauthorized``).
3. ``ExactOnlineClient.from_secrets_manager(...)``: a worker on AWS reading (never refreshing) the token the
   refresher keeps in Secrets Manager (``exact_online_sdk.aws.worker_client()`` is an alias).

In each, the keyword options of :class:`ClientOptions` (``division=``, ``base_url=``, ``access_token=``,
``clock=``...) override the matching setting; without ``settings`` they are the whole configuration
(``ExactOnlineClient(access_token=..., division=...)`` in tests and tools).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Self, TypedDict, TypeVar, Unpack, cast

import httpx

from ._core.body import DEFAULT_MAX_RESPONSE_BYTES
from ._core.credentials import AsyncTokenSource, StaticToken, TokenSource
from ._core.drive import Emit, Flow, Stepper, Stream
from ._core.flow import (
    Action,
    BodyParser,
    ExactResponse,
    GetToken,
    Page,
    Paginator,
    Send,
    Sleep,
    request_flow,
)
from ._core.hosts import DEFAULT_BASE_URL
from ._core.ratelimit import BudgetKey, RateBudgetBackend, RateLimitSnapshot, shared_budget
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
from ._core.response import parse_body
from ._core.retry import RetryPolicy
from ._core.tls import default_ssl_context
from ._http import send_async, send_blocking
from .auth.hosts import bind_token_host
from .clock import Clock, SystemClock
from .exceptions import AuthenticationError, ConfigError, InvalidPathError, UnexpectedResponseError

if TYPE_CHECKING:
    from .api import AsyncServices, Services
    from .config import Settings  # only for annotations: importing pydantic-settings costs ~100 ms

__all__ = [
    "AsyncExactOnlineClient",
    "ClientOptions",
    "ExactOnlineClient",
    "ExactResponse",
    "Page",
    "RequestOptions",
    "ResultList",
    "RetryPolicy",
]

log = logging.getLogger("exact_online_sdk.client")
T = TypeVar("T")
Params = Mapping[str, Any] | None
"""Query options of a request (``$filter``, ``$select``, ``$top``...)."""
Headers = Mapping[str, str] | None
"""Extra request headers."""


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


class ClientOptions(TypedDict, total=False):
    """The keyword options both clients take (the one definition). Each overrides the matching
    :class:`~exact_online_sdk.config.Settings` field; unset ones come from ``settings`` or the defaults."""

    access_token: str | None
    """A fixed access token (never refreshed; a 401 is final). Default: the token source of ``settings``."""
    division: int | None
    """The default division of paths without one (``EXACT_DIVISION``)."""
    base_url: str | None
    """The Exact host (``EXACT_BASE_URL`` or ``EXACT_REGION``; default ``DEFAULT_BASE_URL``, the Dutch host)."""
    clock: Clock | None
    """The clock for pacing, backoff and token expiry (default: the system clock)."""
    retry: RetryPolicy | None
    """Retries, backoff and deadlines (default :class:`RetryPolicy()`)."""
    user_agent: str | None
    """The ``User-Agent`` header (``EXACT_USER_AGENT``)."""
    language: str | None
    """``CustomDescriptionLanguage`` (``EXACT_LANGUAGE``)."""
    client_id: str | None
    """The app's client id (``EXACT_CLIENT_ID``): the rate budget is shared per app, host and division."""
    timeout: float | None
    """HTTP timeout in seconds (``EXACT_TIMEOUT``, default 30)."""
    budget: RateBudgetBackend | None
    """One rate budget for every call of this client, whatever the division (tests; a single-division handler)."""
    budgets: Callable[[BudgetKey], RateBudgetBackend] | None
    """Where the rate budget of each (host, client id, division) is kept. Default: shared in this process
    (:func:`~exact_online_sdk._core.ratelimit.shared_budget`); across processes
    :func:`exact_online_sdk.scale.coordinated_budgets` (DynamoDB), the default of :meth:`from_secrets_manager` when
    ``EXACT_COORDINATION_TABLE`` is set."""
    max_response_bytes: int | None
    """The most a response body may decode to (``EXACT_MAX_RESPONSE_BYTES``; default 64 MiB, well above Exact's
    largest page); past it the read stops with :class:`~exact_online_sdk.exceptions.ResponseTooLargeError`."""


class RequestOptions(TypedDict, total=False):
    """The keyword options of ``request()`` (both clients)."""

    params: Params
    """Query options (``$filter``, ``$select``, ``$top``...)."""
    json: Any
    """The request body (POST, PUT)."""
    division: int | None
    """The division of the path (default: the client's)."""
    headers: Headers
    """Extra request headers."""


Options = TypeVar("Options", ClientOptions, RequestOptions)
_KNOWN: dict[type[Any], frozenset[str]] = {
    ClientOptions: ClientOptions.__optional_keys__,
    RequestOptions: RequestOptions.__optional_keys__,
}


def _checked(options: Options, spec: type[Options]) -> Options:
    """``options`` when every key is one of ``spec``; a misspelt keyword is a TypeError, as for a plain signature."""
    known = _KNOWN[spec]
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r} (options: {sorted(known)})")
    return options


PagesT = TypeVar("PagesT", Iterator[Page], AsyncIterator[Page])
RowsT = TypeVar("RowsT", Iterator[dict[str, Any]], AsyncIterator[dict[str, Any]])


class _Base(Generic[PagesT, RowsT]):
    """What both shells share: the configuration (resolved once from ``settings`` and the :class:`ClientOptions`)
    and every decision, as sans-IO flows. A shell adds only the I/O: ``_perform``, ``_run`` and ``_stream``."""

    def __init__(self, settings: Settings | None, options: ClientOptions) -> None:
        _checked(options, ClientOptions)
        self.settings = settings
        self.base_url = normalize_base_url(options.get("base_url") or (settings.host if settings else DEFAULT_BASE_URL))
        division = options.get("division")
        self.division = division if division is not None else (settings.division if settings else None)
        if self.division is not None and (isinstance(self.division, bool) or self.division <= 0):
            raise ConfigError("division must be a positive integer", variable="EXACT_DIVISION")
        self.clock: Clock = options.get("clock") or SystemClock()
        self.retry = options.get("retry") or RetryPolicy()
        self.user_agent = options.get("user_agent") or (settings.user_agent if settings else None) or DEFAULT_USER_AGENT
        self.language = options.get("language") or (settings.language if settings else None)
        self.client_id = options.get("client_id") or (settings.client_id if settings else None) or ""
        self.timeout = options.get("timeout") or (settings.timeout if settings else 30.0)
        self._budget_override = options.get("budget")
        self._budgets: Callable[[BudgetKey], RateBudgetBackend] = options.get("budgets") or shared_budget
        cap = options.get("max_response_bytes")
        if cap is None:
            cap = settings.max_response_bytes if settings else DEFAULT_MAX_RESPONSE_BYTES
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1024:
            raise ConfigError("max_response_bytes must be at least 1024 (bytes)", variable="EXACT_MAX_RESPONSE_BYTES")
        self.max_response_bytes: int = cap
        self._access_token = options.get("access_token")
        if self._access_token:
            register_secret(self._access_token)
        if settings is not None:
            for secret in (
                settings.client_secret,
                settings.encryption_key,
                settings.webhook_secret,
                settings.access_token,
            ):
                if secret is not None:
                    register_secret(secret.get_secret_value())

    def _configured_source(self) -> TokenSource | None:
        """The token source when none is passed: ``access_token=``, else what ``settings`` configures
        (``EXACT_ACCESS_TOKEN``, or the token store a login wrote: see ``token_source_from_settings``)."""
        if self._access_token:
            return StaticToken(self._access_token)
        if self.settings is None:
            return None
        from .auth.manager import token_source_from_settings

        return token_source_from_settings(self.settings, clock=self.clock, base_url=self.base_url)

    def _http_options(self) -> dict[str, Any]:
        # Split timeouts: connecting should be quick; reading a 1000-row sync page may take a while.
        total = self.timeout
        return {
            "timeout": httpx.Timeout(total, connect=min(10.0, total), pool=min(10.0, total)),
            "limits": httpx.Limits(max_connections=20, max_keepalive_connections=10),
            "follow_redirects": False,
            "verify": default_ssl_context(),  # built once per process, not once per client
        }

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
        extra. ``kwargs`` go to the constructor (``division=``, ``base_url=``, ``clock=``...). With the stack's
        coordination table configured (``EXACT_COORDINATION_TABLE``) and no ``budget``/``budgets`` given, the rate
        budgets are shared with every other worker through DynamoDB."""
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
        return self._budgets((self.base_url, self.client_id, _division_of(req.path)))

    def rate_limits(self, division: int | None = None) -> RateLimitSnapshot:
        """What is known of the rate limits of ``division`` (default: the client's) for this app."""
        div = division if division is not None else self.division
        budget = self._budget_override or self._budgets((self.base_url, self.client_id, div))
        return budget.snapshot(self.clock.now())

    def _flow(self, req: PreparedRequest, parse: BodyParser = parse_body) -> Flow[ExactResponse]:
        return request_flow(
            req,
            budget=self._budget(req),
            policy=self.retry,
            clock=self.clock,
            request_id=secrets.token_hex(8),  # 16 hex digits, as uuid4().hex[:16] gave, at a quarter of its cost
            parse=parse,
        )

    # -- what each public method does, as sans-IO flows (the shells below only perform their I/O) ------------

    def _request(
        self,
        method: str,
        path: str,
        params: Params = None,
        json: Any = None,
        division: int | None = None,
        headers: Headers = None,
    ) -> Flow[ExactResponse]:
        return self._flow(self._prepare(RequestSpec(method, path, params, json, division, headers)))

    def _get(self, path: str, params: Params, division: int | None) -> Flow[Any]:
        result = _to_result((yield from self._request("GET", path, params, division=division)))
        if isinstance(result, ResultList) and result.has_more:
            log.warning(
                "get(%r) returned one page of %d rows; Exact has more: use iter_rows() to read them all",
                path,
                len(result),
            )
        return result

    def _post(self, path: str, json: Any, division: int | None) -> Flow[dict[str, Any]]:
        data = (yield from self._request("POST", path, json=json, division=division)).data
        return data if isinstance(data, dict) else {}

    def _current_division(self) -> Flow[int]:
        return _division_from_me((yield from self._get("current/Me", {"$select": "CurrentDivision"}, None)))

    def _get_url(self, url: str) -> Flow[Any]:
        return _to_result((yield from self._flow(self._absolute(url))))

    def _pager(self, path: str, params: Params, division: int | None, max_rows: int | None) -> Paginator:
        """Paging state of one read; the sync engine pages with it too."""
        limit = _limit(params, max_rows)
        first = self._prepare(RequestSpec("GET", path, params, None, division, None))
        pager = Paginator(first, base_url=self.base_url, limit=limit)
        if limit == 0:
            pager.request = None
        return pager

    def _pages(
        self, path: str, params: Params, division: int | None, max_rows: int | None, parse: BodyParser
    ) -> Stream[Page]:
        pager = self._pager(path, params, division, max_rows)
        while pager.request is not None:
            yield Emit(pager.accept((yield from self._flow(pager.request, parse))))

    def _rows(self, path: str, params: Params, division: int | None, max_rows: int | None) -> Stream[dict[str, Any]]:
        pager = self._pager(path, params, division, max_rows)
        while pager.request is not None:
            for row in pager.accept((yield from self._flow(pager.request))).rows:
                yield Emit(row)

    # -- the iterators are the same in both shells; only their type differs (``for`` or ``async for``) --------

    def iter_pages(
        self,
        path: str,
        params: Params = None,
        *,
        division: int | None = None,
        max_rows: int | None = None,
        parse: BodyParser | None = None,
    ) -> PagesT:
        """Every page of a collection, following ``__next``; ``$top``/``max_rows`` cap the whole result.

        An iterator of the blocking client, an async iterator (``async for``) of the asyncio one. ``parse`` reads
        each page instead of the default dict reader (the typed API passes its row decoder: one decode a page)."""
        return cast(PagesT, self._stream(self._pages(path, params, division, max_rows, parse or parse_body)))

    def iter_rows(
        self, path: str, params: Params = None, *, division: int | None = None, max_rows: int | None = None
    ) -> RowsT:
        """Every row of a collection (see :meth:`iter_pages`)."""
        return cast(RowsT, self._stream(self._rows(path, params, division, max_rows)))

    def _stream(self, stream: Stream[T]) -> Any:
        raise NotImplementedError  # each shell drives streams with its own I/O

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, division={self.division!r})"


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


def _no_credentials() -> AuthenticationError:
    return AuthenticationError("no credentials: pass auth= (a token source) or access_token=")


class ExactOnlineClient(_Base[Iterator[Page], Iterator[dict[str, Any]]]):
    """The blocking client. Paths are relative: ``client.get("crm/Accounts", {"$top": 10})``.

    Build it from ``settings`` (``ExactOnlineClient(settings=Settings.from_env())``), with your own token source
    (``auth=``), or with :meth:`from_secrets_manager` on AWS; the keyword ``options`` are :class:`ClientOptions`.
    ``http_client``/``transport`` replace the HTTP layer (tests, proxies)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        auth: TokenSource | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(settings, options)
        self._auth: TokenSource | None = auth or self._configured_source()
        bind_token_host(self._auth, self.base_url)  # a token is sent only to the host that issued it
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, **self._http_options())

    # -- the I/O: performing the actions of a flow with blocking calls ---------------------------------------

    def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            return send_blocking(self._http, action, self.max_response_bytes)
        if isinstance(action, Sleep):
            self.clock.sleep(action.seconds)
            return None
        source = self._auth
        if source is None:
            raise _no_credentials()
        if isinstance(action, GetToken):
            return source.get_access_token()
        return source.on_unauthorized(action.token)

    def _advance(self, step: Stepper[Any]) -> None:
        while step.wants_io:
            try:
                outcome = self._perform(step.action)
            except BaseException as exc:  # the core returns its rate-limit reservation, then re-raises
                step.throw(exc)
            else:
                step.send(outcome)

    def _run(self, flow: Flow[T]) -> T:
        with Stepper(flow) as step:
            self._advance(step)
            return step.result()

    def _stream(self, stream: Stream[T]) -> Iterator[T]:
        with Stepper(stream) as step:  # closed when the caller stops early
            self._advance(step)
            while not step.done:
                yield step.item
                step.resume()
                self._advance(step)

    # -- public API ------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> ExactResponse:
        """One call with pacing, retries and envelope unwrapping; raises a typed APIError on failure."""
        return self._run(self._request(method, path, **_checked(options, RequestOptions)))

    def get(self, path: str, params: Params = None, *, division: int | None = None) -> Any:
        """One GET; the unwrapped ``d``: a :class:`ResultList` for collections, a dict for one entity."""
        return self._run(self._get(path, params, division))

    def post(self, path: str, json: Any, *, division: int | None = None) -> dict[str, Any]:
        """Create an entity; returns it as Exact stored it (``Prefer: return=representation``)."""
        return self._run(self._post(path, json, division))

    def put(self, path: str, json: Any, *, division: int | None = None) -> None:
        """Partial update (send only changed fields); Exact answers 204."""
        self._run(self._request("PUT", path, json=json, division=division))

    def delete(self, path: str, *, division: int | None = None) -> None:
        """Delete an entity; Exact answers 204."""
        self._run(self._request("DELETE", path, division=division))

    def current_division(self) -> int:
        """The user's current division from ``current/Me`` (use it when ``EXACT_DIVISION`` is not set)."""
        return self._run(self._current_division())

    def get_url(self, url: str) -> Any:
        """GET an absolute URL on the configured host, such as a ``__deferred`` navigation link or a
        ``__next`` link; returns what :meth:`get` returns. Other hosts are refused (the token never leaves)."""
        return self._run(self._get_url(url))

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


class AsyncExactOnlineClient(_Base[AsyncIterator[Page], AsyncIterator[dict[str, Any]]]):
    """The asyncio client: same names, options and behaviour as :class:`ExactOnlineClient`, awaited.

    ``auth`` may be an async token source or a blocking one (then called directly)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        auth: AsyncTokenSource | TokenSource | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(settings, options)
        self._auth: AsyncTokenSource | TokenSource | None = auth or self._configured_source()
        bind_token_host(self._auth, self.base_url)  # a token is sent only to the host that issued it
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, **self._http_options())

    # -- the I/O: performing the actions of a flow with awaits -----------------------------------------------

    async def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            return await send_async(self._http, action, self.max_response_bytes)
        if isinstance(action, Sleep):
            await self.clock.asleep(action.seconds)
            return None
        source = self._auth
        if source is None:
            raise _no_credentials()
        if isinstance(source, AsyncTokenSource):
            if isinstance(action, GetToken):
                return await source.aget_access_token()
            return await source.aon_unauthorized(action.token)
        if isinstance(action, GetToken):
            return source.get_access_token()
        return source.on_unauthorized(action.token)

    async def _advance(self, step: Stepper[Any]) -> None:
        while step.wants_io:
            try:
                outcome = await self._perform(step.action)
            except BaseException as exc:  # the core returns its rate-limit reservation, then re-raises
                step.throw(exc)
            else:
                step.send(outcome)

    async def _run(self, flow: Flow[T]) -> T:
        with Stepper(flow) as step:
            await self._advance(step)
            return step.result()

    async def _stream(self, stream: Stream[T]) -> AsyncIterator[T]:
        with Stepper(stream) as step:  # closed when the caller stops early
            await self._advance(step)
            while not step.done:
                yield step.item
                step.resume()
                await self._advance(step)

    # -- public API ------------------------------------------------------------------------------------------

    async def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> ExactResponse:
        """One call with pacing, retries and envelope unwrapping; raises a typed APIError on failure."""
        return await self._run(self._request(method, path, **_checked(options, RequestOptions)))

    async def get(self, path: str, params: Params = None, *, division: int | None = None) -> Any:
        """One GET; the unwrapped ``d``: a :class:`ResultList` for collections, a dict for one entity."""
        return await self._run(self._get(path, params, division))

    async def post(self, path: str, json: Any, *, division: int | None = None) -> dict[str, Any]:
        """Create an entity; returns it as Exact stored it (``Prefer: return=representation``)."""
        return await self._run(self._post(path, json, division))

    async def put(self, path: str, json: Any, *, division: int | None = None) -> None:
        """Partial update (send only changed fields); Exact answers 204."""
        await self._run(self._request("PUT", path, json=json, division=division))

    async def delete(self, path: str, *, division: int | None = None) -> None:
        """Delete an entity; Exact answers 204."""
        await self._run(self._request("DELETE", path, division=division))

    async def current_division(self) -> int:
        """The user's current division from ``current/Me`` (use it when ``EXACT_DIVISION`` is not set)."""
        return await self._run(self._current_division())

    async def get_url(self, url: str) -> Any:
        """GET an absolute URL on the configured host (a ``__deferred`` or ``__next`` link); see :meth:`get`."""
        return await self._run(self._get_url(url))

    @cached_property
    def api(self) -> AsyncServices:
        """Typed endpoints by service: ``await client.api.crm.accounts.list(top=10)``."""
        from .api import AsyncServices

        return AsyncServices(self)

    async def aclose(self) -> None:
        """Close the HTTP connections (only those this client opened)."""
        if self._owns_http:
            await self._http.aclose()

    async def close(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncExactOnlineClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
