"""Route handlers: small functions from a request to a response, one per route (see :mod:`.urls`).

They read the request, call the rules (:mod:`.oauth`, :mod:`.entities`, :mod:`.control`) and shape the answer
with :mod:`.responses`; no rule of Exact's lives here.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .atom import render_atom
from .control import Control
from .entities import ApiPath, RestApi
from .exceptions import ApiError, OAuthError
from .faults import Fault
from .metadata import metadata_document, service_json, service_xml
from .oauth import basic_credentials
from .responses import ApiResult, error_response, json_response, unsupported_media_type
from .state import EmulatorState
from .urls import ServicePath, parse_api_path

__all__ = ["CONTROL_HEADER", "ApiHandler", "ControlHandlers", "Handlers", "OAuthHandlers"]

CONTROL_HEADER = "X-Emulator-Control"
"""A custom header every state-changing control call must carry: a browser page cannot send it cross-site
without a CORS preflight, which the emulator never grants."""
TOKEN_ENDPOINT = "oauth2/token"


async def _form(request: Request) -> dict[str, str]:
    """An x-www-form-urlencoded body (parsed here: no python-multipart dependency)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    return data if isinstance(data, dict) else {}


class OAuthHandlers:
    """``/api/oauth2/auth`` (consent and redirect) and ``/api/oauth2/token``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def authorize(self, request: Request) -> Response:
        state = self.state
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(await _form(request))
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        try:
            state.oauth.check_client(client_id, redirect_uri or None)
        except OAuthError as exc:
            return HTMLResponse(
                f"<html><body><p>{html.escape(exc.description or exc.error, quote=False)}</p></body></html>", 400
            )
        response_type = params.get("response_type", "code")
        if response_type not in ("code", "token") or not redirect_uri:
            return HTMLResponse("<html><body><p>Invalid authorization request.</p></body></html>", 400)
        consent = state.config.auto_consent or params.get("consent") == "allow"
        if not consent or (
            params.get("force_login") == "1" and request.method == "GET" and not state.config.auto_consent
        ):
            return _consent_page(params)
        if response_type == "token":
            # The implicit grant (FACTS §1.2): the token travels in the fragment (RFC 6749 §4.2.2).
            fragment = state.oauth.implicit(client_id, redirect_uri)
            if "state" in params:
                fragment["state"] = params["state"]
            return RedirectResponse(f"{redirect_uri.split('#', 1)[0]}#{urlencode(fragment)}", 302)
        code = state.oauth.authorize(client_id, redirect_uri)
        query = {"code": code}
        if "state" in params:
            query["state"] = params["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode(query)}", 302)

    async def token(self, request: Request) -> Response:
        state = self.state
        form = await _form(request)
        entry: dict[str, Any] = {
            "time": state.clock.now(),
            "method": "POST",
            "path": "/api/oauth2/token",
            "grant_type": form.get("grant_type"),
        }
        client_id = form.get("client_id", "")
        try:
            basic = basic_credentials(request.headers.get("authorization"))
            client_id = basic[0] if basic is not None else client_id
            if client_id in state.config.clients and state.errors.blocked_until(client_id, 0, TOKEN_ENDPOINT):
                # [U] the error block's answer was never captured; here it is the token endpoint's OAuth shape.
                state.counters["error_quota_blocked"] += 1
                raise OAuthError(
                    403,
                    "access_denied",
                    "Too many errors: the API key is blocked for this endpoint.",
                    {"Reason": "TooManyErrors"},
                )
            body = state.oauth.token(form, basic)
        except OAuthError as exc:
            state.log_request({**entry, "status": exc.status, "error": exc.error})
            if client_id in state.config.clients and exc.status != 403:
                state.errors.record(client_id, 0, TOKEN_ENDPOINT, exc.status)
            return json_response(exc.body(), exc.status, exc.headers)
        state.log_request({**entry, "status": 200})
        return json_response(body, 200, {"Cache-Control": "no-store"})


def _consent_page(params: dict[str, str]) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != "consent"
    )
    return HTMLResponse(
        "<html><body><h1>Exact Online (emulator)</h1><p>Allow this application access?</p>"
        f'<form method="post">{hidden}<button name="consent" value="allow">Allow</button></form>'
        "</body></html>"
    )


class ApiHandler:
    """``/api/v1/...``: bearer check, division access, error quota, rate limits, then the REST rules."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.rest = RestApi(state)

    async def handle(self, request: Request) -> Response:
        state = self.state
        started = time.perf_counter()
        entry: dict[str, Any] = {
            "time": state.clock.now(),
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
        }
        response, client_id, division, ep_path = await self._answer(request)
        entry.update(
            status=response.status_code,
            client_id=client_id,
            division=division,
            ms=round((time.perf_counter() - started) * 1000, 3),
        )
        state.log_request(entry)
        if response.status_code >= 400:
            state.counters["errors"] += 1
            if client_id is not None and division is not None and ep_path is not None:
                state.errors.record(client_id, division, ep_path, response.status_code)
        return response

    async def _answer(self, request: Request) -> tuple[Response, str | None, int | None, str | None]:
        state = self.state
        try:
            api_path = parse_api_path(request.path_params["rest"])
        except ApiError as exc:
            return error_response(exc), None, None, None
        ep_path = api_path.endpoint.path if isinstance(api_path, ApiPath) else f"{api_path.service}/$metadata"
        division = api_path.division if api_path.division is not None else state.config.current_division
        auth = request.headers.get("authorization", "")
        grant = state.oauth.grant_for(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
        if grant is None:
            state.counters["unauthorized"] += 1
            return Response(b"", 401, {"WWW-Authenticate": 'Bearer realm="Exact Online"'}), None, None, None
        client_id = grant.client_id
        if division not in state.config.divisions:
            return (
                error_response(ApiError(403, "Forbidden", {"Reason": "NoDivisionAccess"})),
                client_id,
                division,
                ep_path,
            )
        if state.errors.blocked_until(client_id, division, ep_path) is not None:
            # [U] the blocked answer of the error quota was never captured.
            state.counters["error_quota_blocked"] += 1
            blocked = ApiError(
                403,
                "Forbidden - too many errors; the API key is blocked for this endpoint.",
                {"Reason": "TooManyErrors"},
            )
            return error_response(blocked), client_id, division, None
        decision = state.limiter.take(client_id, division)
        if not decision.allowed:
            state.counters["rate_limited"] += 1
            return Response(b"", 429, decision.headers), client_id, division, None
        state.calls[(client_id, division)] += 1
        headers = decision.headers
        params = dict(request.query_params)
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        wanted = _wanted_format(request, params)
        if request.method == "GET" and wanted == "refused":
            return unsupported_media_type(headers), client_id, division, ep_path
        if isinstance(api_path, ServicePath):
            return self._service(request, api_path, base, wanted, headers), client_id, division, ep_path
        body = await request.body() if request.method in ("POST", "PUT") else b""
        args = (request.method, api_path, params, body, {"prefer": request.headers.get("prefer", "")})
        try:
            if api_path.endpoint.kind in ("sync", "bulk"):
                # Large sync/bulk pages are built off the event loop so slow pages never stall other connections.
                result = await asyncio.to_thread(self.rest.handle, *args, client_id, base)
            else:
                result = self.rest.handle(*args, client_id, base)
        except ApiError as exc:
            return error_response(exc, headers), client_id, division, ep_path
        return self._render(request, result, wanted, headers), client_id, division, ep_path

    def _service(
        self, request: Request, path: ServicePath, base: str, wanted: str, headers: dict[str, str]
    ) -> Response:
        if request.method != "GET":
            return error_response(
                ApiError(405, f"The requested resource does not support http method '{request.method}'."), headers
            )
        if path.metadata:
            return Response(metadata_document(path.service, path.beta), 200, headers, media_type="application/xml")
        if wanted == "json":
            return json_response(service_json(path.service, path.beta), 200, headers)
        root = f"{base}{request.url.path.rstrip('/')}/"
        return Response(service_xml(path.service, path.beta, root), 200, headers, media_type="application/xml")

    def _render(self, request: Request, result: ApiResult, wanted: str, headers: dict[str, str]) -> Response:
        if result.status == 204:
            return Response(None, 204, headers)
        if request.method == "GET" and result.payload is not None and wanted == "atom":
            atom = render_atom(result.payload, str(request.url), self.state.clock.now())
            kind = (
                "entry"
                if isinstance(result.payload.get("d"), dict) and "results" not in result.payload["d"]
                else "feed"
            )
            return Response(atom, 200, headers, media_type=f"application/atom+xml;type={kind};charset=utf-8")
        return Response(result.body, result.status, headers, media_type=result.content_type or None)


def _wanted_format(request: Request, params: dict[str, str]) -> str:
    """``json``, ``atom`` or ``refused``: ``$format`` first, then ``Accept``. Exact answers JSON only when asked
    (FACTS §3.1), Atom otherwise, and does not accept ``application/xml`` ([U]: 415 as WCF Data Services)."""
    fmt = params.get("$format", "").strip().lower()
    if fmt:
        if fmt in ("json", "application/json", "verbosejson"):
            return "json"
        if fmt in ("atom", "application/atom+xml"):
            return "atom"
        return "refused"
    ranges = [part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
    ranges = [r for r in ranges if r]
    if any(r in ("application/json", "text/json") for r in ranges):
        return "json"
    if not ranges or any(r in ("*/*", "application/*", "application/atom+xml") for r in ranges):
        return "atom"
    return "refused"


def _refused_control(request: Request) -> Response | None:
    """A state-changing control call needs ``Content-Type: application/json`` and the :data:`CONTROL_HEADER`:
    a cross-site page can send neither without a CORS preflight (the emulator grants none)."""
    if request.method not in ("POST", "DELETE", "PUT"):
        return None
    json_body = request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"
    if json_body and request.headers.get(CONTROL_HEADER):
        return None
    return json_response(
        {"error": f"control calls that change state need Content-Type: application/json and {CONTROL_HEADER}: 1"},
        403,
    )


class ControlHandlers:
    """The control API under ``/_emulator/`` (the same operations as :class:`~.control.Control`). Reads answer
    any loopback caller; calls that change state must prove they are not a cross-site form (see
    :func:`_refused_control`)."""

    def __init__(self, state: EmulatorState, control: Control) -> None:
        self.state = state
        self.control = control

    async def health(self, request: Request) -> Response:
        return json_response({"ok": True})

    async def clock(self, request: Request) -> Response:
        return json_response(self.control.clock_info())

    async def advance(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        data = await _json_body(request)
        try:
            now = self.control.advance(float(data.get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 409)
        return json_response({"now": now})

    async def counters(self, request: Request) -> Response:
        return json_response(self.control.counters())

    async def requests(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        if request.method == "DELETE":
            self.control.clear_requests()
            return Response(None, 204)
        limit = request.query_params.get("limit")
        return json_response(self.control.requests(int(limit) if limit and limit.isdigit() else None))

    async def faults(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        if request.method == "DELETE":
            self.control.clear_faults()
            return Response(None, 204)
        if request.method == "POST":
            try:
                fault = self.state.faults.add(Fault.from_dict(await _json_body(request)))
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(fault.to_dict(), 201)
        return json_response(self.control.faults())

    async def tokens(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        data = await _json_body(request)
        try:
            pair = self.control.issue_token(data.get("client_id"), data.get("division"))
        except (OAuthError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(pair, 201)

    async def expire(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        self.control.expire_access_tokens()
        return Response(None, 204)

    async def authorize(self, request: Request) -> Response:
        if (refused := _refused_control(request)) is not None:
            return refused
        data = await _json_body(request)
        try:
            code = self.control.authorize(data.get("client_id"), data.get("redirect_uri"))
        except OAuthError as exc:
            return json_response({"error": exc.error}, 400)
        return json_response({"code": code}, 201)

    async def webhooks(self, request: Request) -> Response:
        return json_response(self.control.webhook_log())


class Handlers:
    """Every handler of one emulator, sharing its state."""

    def __init__(self, state: EmulatorState, control: Control) -> None:
        self.oauth = OAuthHandlers(state)
        self.api = ApiHandler(state)
        self.control = ControlHandlers(state, control)
