"""The control API (Python): counters, request log, faults, clock, tokens and data, for tests and chaos runs.

The same operations are served over HTTP under ``/_emulator/`` (see :mod:`.handlers`): reads are plain GETs, calls
that change state need ``Content-Type: application/json`` and ``X-Emulator-Control``. It has no credentials of its
own: run the emulator on loopback (see ``docs/emulator.md``, "A safe local service").
"""

from __future__ import annotations

import time
from typing import Any

from ..clock import ManualClock, ScaledClock
from .faults import Fault, FaultKind
from .state import EmulatorState
from .store import Table

__all__ = ["Control"]


class Control:
    """Steer and observe one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # --- tokens --------------------------------------------------------------------------------------------

    def issue_token(self, client_id: str | None = None, division: int | None = None) -> dict[str, str]:
        """A valid token pair, as the token endpoint returns it, minted as if the OAuth flow had just run."""
        if division is not None and division not in self.state.config.divisions:
            raise ValueError(f"division {division} is not one of the emulator's divisions")
        return self.state.oauth.issue(client_id or self.state.config.client_id)

    def authorize(self, client_id: str | None = None, redirect_uri: str | None = None) -> str:
        """Run the consent step and return a fresh authorization code."""
        uri = redirect_uri or (self.state.config.redirect_uris or ("http://127.0.0.1/callback",))[0]
        return self.state.oauth.authorize(client_id or self.state.config.client_id, uri)

    def expire_access_tokens(self) -> None:
        """Expire every issued access token now."""
        self.state.oauth.expire_access_tokens()

    # --- clock ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.state.clock.now()

    def advance(self, seconds: float) -> float:
        """Move a ManualClock forward (other clocks cannot be moved); returns the new time."""
        clock = self.state.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("only a ManualClock can be advanced; configure EmulatorConfig(clock=ManualClock())")
        return clock.advance(seconds)

    def clock_info(self) -> dict[str, Any]:
        """The clock's kind and, for a ScaledClock, its origin so another process can share the same time."""
        clock = self.state.clock
        info: dict[str, Any] = {"now": clock.now(), "kind": type(clock).__name__}
        if isinstance(clock, ScaledClock):
            info.update(scale=clock.scale, origin=clock.origin, real_origin=clock.real_origin)
        else:
            info.update(scale=1.0, origin=clock.now(), real_origin=time.time())
        return info

    # --- faults --------------------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        path: str | None = None,
        seconds: float = 0.0,
        status: int = 503,
    ) -> Fault:
        """Add a fault rule (see :class:`~.faults.Fault`)."""
        return self.state.faults.add(Fault(kind, times=times, path=path, seconds=seconds, status=status))

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.state.faults.active()]

    # --- observation ---------------------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """Counters: calls per ``client/division``, ``rate_limited``, ``token_calls``, ``refreshes``,
        ``rejected_refresh_tokens``, ``early_refreshes``, ``tokens_issued``, ``errors``, ``unauthorized``,
        ``error_quota_blocked``, ``fault_<kind>``, webhook sends."""
        return self.state.snapshot_counters()

    def calls(self, client_id: str | None = None, division: int | None = None) -> int:
        """API calls counted against the rate limits for one client and division."""
        return self.state.calls[
            (client_id or self.state.config.client_id, division or self.state.config.current_division)
        ]

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first (method, path, query, status, client id, division, time, ms)."""
        entries = list(self.state.request_log)
        return entries[-limit:] if limit else entries

    def clear_requests(self) -> None:
        self.state.request_log.clear()

    def webhook_log(self) -> list[dict[str, Any]]:
        """Webhook sends so far: kind (validation/delivery), url, status, error, body."""
        return list(self.state.webhooks.log)

    def wait_for_webhooks(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block (real time) until ``count`` webhook sends were made; returns the log."""
        deadline = time.monotonic() + timeout
        while len(self.state.webhooks.log) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.webhook_log()

    # --- data ----------------------------------------------------------------------------------------------

    def table(self, path: str, division: int | None = None) -> Table:
        """The table behind a standard entity path, for direct inspection in tests."""
        return self.state.store.table(path, division or self.state.config.current_division)
