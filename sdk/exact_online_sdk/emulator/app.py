"""The ASGI application: OAuth endpoints, the REST API, the control API and fault injection."""

from __future__ import annotations

import asyncio
import contextvars
import html
import json
import logging
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .atom import render_atom
from .config import EmulatorConfig
from .control import Control
from .faults import MAINTENANCE_HTML, Fault
from .oauth import OAuthError
from .rest import ApiError, ApiResult, RestApi, parse_api_path
from .state import EmulatorState

__all__ = ["TRANSPORT", "create_app"]

log = logging.getLogger("exact_online_sdk.emulator")

# Set by the emulator's uvicorn protocol so a fault can drop the TCP connection (see server.py).
TRANSPORT: contextvars.ContextVar[Any] = contextvars.ContextVar("emulator_transport", default=None)

_ERROR_STATUSES = (400, 401, 403, 404)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(obj).encode(), status, headers, media_type="application/json")


def _drop_connection() -> None:
    transport = TRANSPORT.get()
    if transport is None:
        raise ConnectionResetError("emulator fault: connection reset")
    transport.abort()


class _FaultLayer:
    """Applies injected faults to API and token calls before (or around) the real handler."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        is_token = path == "/api/oauth2/token"
        latency, fault = self.state.faults.take(path, is_token)
        if latency > 0:
            await asyncio.sleep(latency)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.state.counters[f"fault_{fault.kind}"] += 1
        await self._apply(fault, scope, receive, send)

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "status":
            body = json.dumps({"error": {"code": "", "message": {"lang": "", "value": "Service Unavailable"}}}).encode()
            await Response(body, fault.status, media_type="application/json")(scope, receive, send)
        elif fault.kind == "maintenance":
            await Response(MAINTENANCE_HTML, 200, media_type="text/html")(scope, receive, send)
        elif fault.kind == "reset":
            _drop_connection()
        elif fault.kind in ("truncate", "token_drop"):
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)
            if fault.kind == "token_drop":
                _drop_connection()
                return
            start = next(m for m in captured if m["type"] == "http.response.start")
            body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
            await send(start)
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            _drop_connection()


class _ClockDateLayer:
    """Stamps every response with a ``Date`` header read from the emulator's clock (uvicorn's own is turned off):
    clients correct for clock skew from ``Date``, so under a scaled clock a real-time header would mislead them."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.state.clock.now(), usegmt=True).encode("ascii")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, stamped)


def create_app(config: EmulatorConfig | EmulatorState | None = None) -> Starlette:
    """Build the emulator app. ``app.state.emulator`` is the :class:`EmulatorState`; ``app.state.control``
    the :class:`Control` handle."""
    state = config if isinstance(config, EmulatorState) else EmulatorState(config)
    control = Control(state)
    rest = RestApi(state)

    # --- OAuth ---------------------------------------------------------------------------------------------

    async def authorize(request: Request) -> Response:
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
        if params.get("response_type", "code") != "code" or not redirect_uri:
            return HTMLResponse("<html><body><p>Invalid authorization request.</p></body></html>", 400)
        consent = state.config.auto_consent or params.get("consent") == "allow"
        if not consent or (
            params.get("force_login") == "1" and request.method == "GET" and not state.config.auto_consent
        ):
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
        code = state.oauth.authorize(client_id, redirect_uri)
        query = {"code": code}
        if "state" in params:
            query["state"] = params["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode(query)}", 302)

    async def token(request: Request) -> Response:
        form = await _form(request)
        try:
            body = state.oauth.token(form)
        except OAuthError as exc:
            state.log_request(
                {
                    "time": state.clock.now(),
                    "method": "POST",
                    "path": "/api/oauth2/token",
                    "grant_type": form.get("grant_type"),
                    "status": exc.status,
                    "error": exc.error,
                }
            )
            return _json(exc.body(), exc.status, exc.headers)
        state.log_request(
            {
                "time": state.clock.now(),
                "method": "POST",
                "path": "/api/oauth2/token",
                "grant_type": form.get("grant_type"),
                "status": 200,
            }
        )
        return _json(body, 200, {"Cache-Control": "no-store"})

    # --- REST ----------------------------------------------------------------------------------------------

    async def api(request: Request) -> Response:
        started = time.perf_counter()
        entry: dict[str, Any] = {
            "time": state.clock.now(),
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
        }
        response, client_id, division, ep_path = await _api(request)
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

    async def _api(request: Request) -> tuple[Response, str | None, int | None, str | None]:
        try:
            api_path = parse_api_path(request.path_params["rest"])
        except ApiError as exc:
            return _error(exc), None, None, None
        ep = api_path.endpoint
        division = api_path.division if api_path.division is not None else state.config.current_division
        auth = request.headers.get("authorization", "")
        grant = state.oauth.grant_for(auth[7:].strip()) if auth[:7].lower() == "bearer " else None
        if grant is None:
            state.counters["unauthorized"] += 1
            return Response(b"", 401, {"WWW-Authenticate": 'Bearer realm="Exact Online"'}), None, None, None
        client_id = grant.client_id
        if division not in state.config.divisions:
            return (_error(ApiError(403, "Forbidden", {"Reason": "NoDivisionAccess"})), client_id, division, ep.path)
        if state.errors.blocked_until(client_id, division, ep.path) is not None:
            # [U] the blocked answer of the error quota was never captured.
            state.counters["error_quota_blocked"] += 1
            return (
                _error(
                    ApiError(
                        403,
                        "Forbidden - too many errors; the API key is blocked for this endpoint.",
                        {"Reason": "TooManyErrors"},
                    )
                ),
                client_id,
                division,
                None,
            )
        decision = state.limiter.take(client_id, division)
        if not decision.allowed:
            state.counters["rate_limited"] += 1
            return Response(b"", 429, decision.headers), client_id, division, None
        state.calls[(client_id, division)] += 1
        headers = decision.headers
        body = await request.body() if request.method in ("POST", "PUT") else b""
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        lowered = {"prefer": request.headers.get("prefer", "")}
        try:
            result: ApiResult = (
                await asyncio.to_thread(
                    rest.handle, request.method, api_path, dict(request.query_params), body, lowered, client_id, base
                )
                if _heavy(ep.kind)
                else rest.handle(request.method, api_path, dict(request.query_params), body, lowered, client_id, base)
            )
        except ApiError as exc:
            return _error(exc, headers), client_id, division, ep.path
        if result.status == 204:
            return Response(None, 204, headers), client_id, division, ep.path
        accept = request.headers.get("accept", "")
        if request.method == "GET" and result.payload is not None and "application/json" not in accept:
            atom = render_atom(result.payload, str(request.url), state.clock.now())
            return (
                Response(atom, 200, headers, media_type="application/atom+xml;type=feed;charset=utf-8"),
                client_id,
                division,
                ep.path,
            )
        return (
            Response(result.body, result.status, headers, media_type=result.content_type or None),
            client_id,
            division,
            ep.path,
        )

    def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
        merged = {**(headers or {}), **exc.headers}
        if exc.message is None:
            return Response(b"", exc.status, merged)
        return Response(exc.body(), exc.status, merged, media_type="application/json")

    # --- control -------------------------------------------------------------------------------------------

    async def c_health(request: Request) -> Response:
        return _json({"ok": True})

    async def c_clock(request: Request) -> Response:
        return _json(control.clock_info())

    async def c_advance(request: Request) -> Response:
        data = await _body(request)
        try:
            now = control.advance(float(data.get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, 409)
        return _json({"now": now})

    async def c_counters(request: Request) -> Response:
        return _json(control.counters())

    async def c_requests(request: Request) -> Response:
        if request.method == "DELETE":
            control.clear_requests()
            return Response(None, 204)
        limit = request.query_params.get("limit")
        return _json(control.requests(int(limit) if limit and limit.isdigit() else None))

    async def c_faults(request: Request) -> Response:
        if request.method == "DELETE":
            control.clear_faults()
            return Response(None, 204)
        if request.method == "POST":
            try:
                fault = state.faults.add(Fault.from_dict(await _body(request)))
            except (TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json(fault.to_dict(), 201)
        return _json(control.faults())

    async def c_tokens(request: Request) -> Response:
        data = await _body(request)
        try:
            pair = control.issue_token(data.get("client_id"), data.get("division"))
        except (OAuthError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json(pair, 201)

    async def c_expire(request: Request) -> Response:
        control.expire_access_tokens()
        return Response(None, 204)

    async def c_authorize(request: Request) -> Response:
        data = await _body(request)
        try:
            code = control.authorize(data.get("client_id"), data.get("redirect_uri"))
        except OAuthError as exc:
            return _json({"error": exc.error}, 400)
        return _json({"code": code}, 201)

    async def c_webhooks(request: Request) -> Response:
        return _json(control.webhook_log())

    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw.strip() else {}
        return data if isinstance(data, dict) else {}

    routes = [
        Route("/api/oauth2/auth", authorize, methods=["GET", "POST"]),
        Route("/api/oauth2/token", token, methods=["POST"]),
        Route("/api/v1/{rest:path}", api, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "MERGE"]),
        Route("/_emulator/health", c_health),
        Route("/_emulator/clock", c_clock),
        Route("/_emulator/clock/advance", c_advance, methods=["POST"]),
        Route("/_emulator/counters", c_counters),
        Route("/_emulator/requests", c_requests, methods=["GET", "DELETE"]),
        Route("/_emulator/faults", c_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/tokens", c_tokens, methods=["POST"]),
        Route("/_emulator/tokens/expire", c_expire, methods=["POST"]),
        Route("/_emulator/authorize", c_authorize, methods=["POST"]),
        Route("/_emulator/webhooks", c_webhooks),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_FaultLayer, state=state)
    app.add_middleware(_ClockDateLayer, state=state)
    app.state.emulator = state
    app.state.control = control
    return app


async def _form(request: Request) -> dict[str, str]:
    """An x-www-form-urlencoded body (parsed here: no python-multipart dependency)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def _heavy(kind: str) -> bool:
    # Large sync/bulk pages are built off the event loop so slow pages never stall other connections.
    return kind in ("sync", "bulk")
