"""Test doubles at the AWS and Exact boundaries: botocore-level fault injection and a rule-keeping token endpoint."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from exact_online_sdk.auth.errors import (
    RefreshOutcomeUnknown,
    RefreshTokenReused,
    TokenEndpointError,
    TooEarlyToRefresh,
)
from exact_online_sdk.auth.token import Token
from exact_online_sdk.clock import Clock


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@dataclass
class AwsFaults:
    """Answers chosen Secrets Manager calls with an AWS error before they are sent (botocore ``before-send``).

    ``fail(op, n, code)`` makes the next ``n`` calls of ``op`` fail; ``calls`` counts every call by operation and
    ``params`` keeps each call's parameters (to check ClientRequestToken and bytes of retries).
    """

    pending: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    params: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> Any:
        client.meta.events.register_first("before-send.secrets-manager.*", self._before_send)
        client.meta.events.register("before-parameter-build.secrets-manager.*", self._before_call)
        return client

    def fail(self, operation: str, times: int = 1, code: str = "ThrottlingException", status: int = 400) -> None:
        with self.lock:
            self.pending.setdefault(operation, []).extend([f"{status}:{code}"] * times)

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.calls[model.name] = self.calls.get(model.name, 0) + 1
            self.params.append((model.name, dict(params)))

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        with self.lock:
            queue = self.pending.get(operation)
            if not queue:
                return None
            status, code = queue.pop(0).split(":", 1)
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        return AWSResponse(request.url, int(status), {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))


@dataclass
class FakeExactTokens:
    """Exact's refresh rules in memory: rotation (old refresh token dead), the 570 s rule, faults on demand."""

    clock: Clock
    refresh_token: str = "rt-1"
    issued_at: float = 0.0
    calls: int = 0
    reused: int = 0
    too_early: int = 0
    faults: list[str] = field(default_factory=list)
    _seq: Callable[[], int] = field(default_factory=lambda: itertools.count(2).__next__)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_token(self, lifetime: float = 600.0) -> Token:
        now = self.clock.now()
        self.issued_at = now
        return Token(access_token="at-1", refresh_token=self.refresh_token, issued_at=now, expires_at=now + lifetime)

    def refresh(self, token: Token) -> Token:
        with self.lock:
            self.calls += 1
            fault = self.faults.pop(0) if self.faults else None
            if fault == "5xx":
                raise TokenEndpointError("injected 500", status_code=500, retryable=True)
            if token.refresh_token != self.refresh_token:
                self.reused += 1
                raise RefreshTokenReused("Old refresh token used.", status_code=401)
            now = self.clock.now()
            if now - self.issued_at < 570:
                self.too_early += 1
                raise TooEarlyToRefresh(status_code=400)
            n = self._seq()
            self.refresh_token = f"rt-{n}"
            self.issued_at = now
            if fault == "drop":  # rotated at Exact, answer lost
                raise RefreshOutcomeUnknown("no answer", generation=token.generation)
            return Token(
                access_token=f"at-{n}",
                refresh_token=self.refresh_token,
                issued_at=now,
                expires_at=now + 600,
                generation=token.generation + 1,
            )
