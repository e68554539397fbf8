"""Webhook side of the emulator: the validation POST after a subscription is created, and signed deliveries.

A delivery body is ``{"Content":{...},"HashCode":"..."}`` where HashCode is the uppercase hex HMAC-SHA256 of the
exact ``Content`` bytes, keyed with the configured webhook secret (FACTS section 5). Sends run on a background
thread; due times read the emulator's clock (the validation POST comes ``webhook_validation_delay`` after
creation, in emulator time).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ..clock import Clock
from .config import EmulatorConfig

__all__ = ["WebhookDispatcher", "sign_content"]

log = logging.getLogger("exact_online_sdk.emulator.webhooks")


def sign_content(content: bytes, secret: str) -> str:
    """Exact's HashCode: uppercase hex HMAC-SHA256 over the raw Content bytes."""
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest().upper()


@dataclass
class _Job:
    url: str
    body: bytes
    kind: str  # "validation" or "delivery"
    subscription: str
    attempt: int = 1


class WebhookDispatcher:
    """Queue of outgoing webhook POSTs, sent in due order by one daemon thread."""

    def __init__(self, config: EmulatorConfig, clock: Clock, counters: dict[str, int]) -> None:
        self.config = config
        self.clock = clock
        self.counters = counters
        self.validated: set[str] = set()
        self.log: list[dict[str, Any]] = []
        self._heap: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._client: httpx.Client | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._client = httpx.Client(timeout=5.0)
            self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._client is not None:
            self._client.close()

    def schedule_validation(self, subscription_id: str, url: str) -> None:
        self._push(
            self.clock.now() + self.config.webhook_validation_delay, _Job(url, b"", "validation", subscription_id)
        )

    def deliver(self, subscription_id: str, url: str, content: dict[str, Any]) -> bytes:
        """Queue a signed delivery now; returns the exact body bytes sent."""
        raw = json.dumps(content, separators=(",", ":")).encode()
        body = b'{"Content":' + raw + b',"HashCode":"' + sign_content(raw, self.config.webhook_secret).encode() + b'"}'
        self._push(self.clock.now(), _Job(url, body, "delivery", subscription_id))
        return body

    def _push(self, due: float, job: _Job) -> None:
        with self._cond:
            self._ensure_thread()
            heapq.heappush(self._heap, (due, next(self._seq), job))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._heap or self._heap[0][0] > self.clock.now()):
                    # Real-time poll: the emulator clock may be scaled or moved by hand.
                    self._cond.wait(timeout=0.01)
                if self._stop:
                    return
                _, _, job = heapq.heappop(self._heap)
            self._send(job)

    def _send(self, job: _Job) -> None:
        assert self._client is not None
        entry: dict[str, Any] = {
            "kind": job.kind,
            "url": job.url,
            "subscription": job.subscription,
            "status": None,
            "error": None,
            "body": job.body.decode(),
            "attempt": job.attempt,
        }
        try:
            resp = self._client.post(
                job.url, content=job.body, headers={"Content-Type": "application/json"} if job.body else {}
            )
            entry["status"] = resp.status_code
            if job.kind == "validation" and 200 <= resp.status_code < 300:
                self.validated.add(job.subscription)
        except httpx.HTTPError as exc:
            entry["error"] = type(exc).__name__
            log.info("webhook %s to %s failed: %s", job.kind, job.url, type(exc).__name__)
        self.counters[f"webhook_{job.kind}s"] += 1
        self.log.append(entry)
        failed = entry["status"] is None or not 200 <= entry["status"] < 300
        retries = self.config.webhook_redeliveries
        if failed and job.kind == "delivery" and job.attempt <= len(retries):
            again = _Job(job.url, job.body, job.kind, job.subscription, job.attempt + 1)
            self._push(self.clock.now() + retries[job.attempt - 1], again)


def event_time(now: float) -> str:
    """[U] EventCreatedOn format: ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(now * 1000) % 1000:03d}Z"
