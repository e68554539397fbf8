"""Test doubles at the AWS and Exact boundaries: botocore-level fault injection and a rule-keeping token endpoint."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

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
    """Makes chosen Secrets Manager calls fail, at the botocore boundary (works in-process and over HTTP).

    ``fail(op, n, code)``: the next ``n`` calls of ``op`` are answered with that AWS error and never reach the
    service. ``lose_answer(op, n)``: the next ``n`` calls reach the service, then the caller sees a read timeout.
    ``calls`` counts API calls by operation; ``params`` keeps their parameters (ClientRequestToken, bytes...).
    """

    pending: dict[str, list[str]] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    params: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build.secrets-manager.*", self._record)
        events.register_first("before-call.secrets-manager.*", self._before_call)
        events.register("after-call.secrets-manager.*", self._after_call)
        return client

    def fail(self, operation: str, times: int = 1, code: str = "ThrottlingException", status: int = 400) -> None:
        with self.lock:
            self.pending.setdefault(operation, []).extend([f"{status}:{code}"] * times)

    def lose_answer(self, operation: str, times: int = 1) -> None:
        with self.lock:
            self.lost[operation] = self.lost.get(operation, 0) + times

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.calls[model.name] = self.calls.get(model.name, 0) + 1
            self.params.append((model.name, dict(params)))

    def _before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self.lock:
            queue = self.pending.get(model.name)
            if not queue:
                return None
            status, code = queue.pop(0).split(":", 1)
        http = AWSResponse("https://injected.invalid", int(status), {}, _Raw(b""))
        parsed = {
            "Error": {"Code": code, "Message": "injected fault"},
            "ResponseMetadata": {"HTTPStatusCode": int(status)},
        }
        return http, parsed

    def _after_call(self, model: Any, **_: Any) -> None:
        with self.lock:
            if self.lost.get(model.name, 0) <= 0:
                return
            self.lost[model.name] -= 1
        raise ReadTimeoutError(endpoint_url="https://injected.invalid")


@dataclass
class FakeExactTokens:
    """Exact's refresh rules in memory: rotation (old refresh token dead), the 570 s rule, faults on demand."""

    clock: Clock
    refresh_token: str = "REFRESH-SECRET-1"
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
        return Token(
            access_token="ACCESS-SECRET-1", refresh_token=self.refresh_token, issued_at=now, expires_at=now + lifetime
        )

    def refresh(self, token: Token) -> Token:
        with self.lock:
            self.calls += 1
            fault = self.faults.pop(0) if self.faults else None
            if fault == "5xx":
                raise TokenEndpointError("injected 500", status_code=500, retryable=True)
            if fault == "lost":  # lost before Exact processed it (a reset, a slow 503 that timed out)
                raise RefreshOutcomeUnknown("no answer", generation=token.generation)
            if token.refresh_token != self.refresh_token:
                self.reused += 1
                raise RefreshTokenReused("Old refresh token used.", status_code=401)
            now = self.clock.now()
            if now - self.issued_at < 570:
                self.too_early += 1
                raise TooEarlyToRefresh(status_code=400)
            n = self._seq()
            self.refresh_token = f"REFRESH-SECRET-{n}"
            self.issued_at = now
            if fault == "drop":  # rotated at Exact, answer lost
                raise RefreshOutcomeUnknown("no answer", generation=token.generation)
            return Token(
                access_token=f"ACCESS-SECRET-{n}",
                refresh_token=self.refresh_token,
                issued_at=now,
                expires_at=now + 600,
                generation=token.generation + 1,
            )
