"""ASGI layers around the emulator app: injected faults, and a ``Date`` header from the emulator's clock."""

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

__all__ = ["TRANSPORT", "ClockDateLayer", "FaultLayer"]

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
