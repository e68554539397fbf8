"""ASGI layers around the emulator app: a ``Host`` check against DNS rebinding, injected faults, and a ``Date``
header from the emulator's clock."""

from __future__ import annotations

import asyncio
import contextvars
import json
from email.utils import formatdate
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import MAINTENANCE_HTML, Fault
from .state import EmulatorState

__all__ = ["LOOPBACK_HOSTS", "TRANSPORT", "ClockDateLayer", "FaultLayer", "HostGuard"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Set by the emulator's uvicorn protocol so a fault can drop the TCP connection (see server.py).
TRANSPORT: contextvars.ContextVar[Any] = contextvars.ContextVar("emulator_transport", default=None)


def _drop_connection() -> None:
    transport = TRANSPORT.get()
    if transport is None:
        raise ConnectionResetError("emulator fault: connection reset")
    transport.abort()


class FaultLayer:
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


class ClockDateLayer:
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


def host_name(value: str) -> str:
    """``127.0.0.1:8901`` -> ``127.0.0.1``, ``[::1]:8901`` -> ``::1`` (lower case)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostGuard:
    """Answers 403 to a request whose ``Host`` is not the emulator's own name: a page on another site that rebinds
    its DNS name to 127.0.0.1 then reaches the emulator with its own name in ``Host`` and is refused. Allowed:
    loopback names, the bound host, and ``EmulatorConfig.allowed_hosts`` (``*`` for any)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        extra = {host_name(h) for h in state.config.allowed_hosts}
        self.any = "*" in extra
        self.allowed = LOOPBACK_HOSTS | extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.any:
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
            if host is not None and host_name(host) not in self.allowed:
                body = json.dumps({"error": "Invalid Host header: add the name to EmulatorConfig.allowed_hosts"})
                await Response(body.encode(), 403, media_type="application/json")(scope, receive, send)
                return
        await self.app(scope, receive, send)
