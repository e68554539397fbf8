"""A faithful local Exact Online (extra ``[emulator]``): OAuth2, the REST API of all 358 endpoints, rate limits,
the sync API, webhooks and injected faults, speaking the wire format of ``FACTS.md``.

Three ways to run the same app::

    exact-online emulator --port 0            # or: python -m exact_online_sdk.emulator --port 0
    with run_emulator(EmulatorConfig()) as emu:   # uvicorn on 127.0.0.1:<free port> in a thread
        emu.base_url, emu.control.issue_token()
    httpx.Client(transport=httpx.ASGITransport(app=create_app(config)))   # in-process

pytest users: ``pytest_plugins = ["exact_online_sdk.emulator.testing"]`` gives the ``emulator`` fixture.

Choices where Exact's behaviour is uncertain ([U] in FACTS), each configurable in :class:`EmulatorConfig`:

- Too-early refresh (< ``token_lifetime - refresh_window`` = 570 s): 400 ``access_denied`` with
  ``Reason: TooEarlyToRefreshTokens: ...``; it does not burn the refresh token (``early_refresh_consumes_token``).
- Rotation: the old refresh token dies when the new pair is issued (``old_refresh_token_grace=False``); reuse gives
  401 ``unauthorized_client`` "Old refresh token used.".
- Reused/unknown authorization code: 400 ``invalid_grant``. Unknown refresh token: 400 ``invalid_grant``.
- Token-endpoint daily quota (``token_daily_limit=200``): 400 ``access_denied`` with ``Reason:
  TokenRequestLimitExceeded``.
- Error quota (off unless ``error_quota`` is set, e.g. 10): once exceeded, 403 with ``Reason: TooManyErrors`` for
  ``error_block_seconds``; repeat offences extend the block.
- Rate-limit windows: the minute is clock-aligned, the day resets at 00:00 UTC; a refused call does not count.
  429 has an empty body, only the exceeded limit's headers, and no ``Retry-After``.
- 401 (missing, unknown or expired bearer token) has an empty body and ``WWW-Authenticate: Bearer``.
- Successful POST: ``post_status=201``. Without ``Prefer: return=representation`` only the key and the sent
  fields are filled; the rest are null.
- Collections always use ``{"d": {"results": [...]}}``; ``bare_array_top=N`` answers ``{"d": [...]}`` for
  ``$top=N``.
- ``$filter`` string literals unescape doubled quotes (``''``). ``$skip`` is honoured on standard endpoints
  only; sync endpoints page by Timestamp and filter on ``Timestamp`` only (plus ``EntityType`` on sync/Deleted).
- Sync ``Timestamp`` values of seed rows start at 10000, so both ``gt 0L`` and ``gt 1L`` read everything.
- Mandatory filtering is off by default (``mandatory_filtering=True`` turns on Exact's 400 for standard/bulk
  endpoints with a sync counterpart; accepted fields: key, Guid fields, Created, Modified).
- ``sync/Deleted`` EntityType codes 19-21 are never produced. Webhook ``Action`` is Create/Update/Delete and
  ``EventCreatedOn`` is ISO 8601 UTC with milliseconds. The webhook secret is its own setting.
- No request-id header is added. Latency faults are real (wall-clock) seconds.
- ``/Date(ms)/`` values are the emulator clock's UTC time written as wall-clock time (see :mod:`..edm`).

The control API (``/_emulator/...`` over HTTP, :class:`~.control.Control` in Python) is unauthenticated; bind the
emulator to loopback only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .app import create_app
    from .config import EmulatorConfig
    from .control import Control
    from .faults import Fault
    from .server import EmulatorHandle, run_emulator
    from .state import EmulatorState

__all__ = ["Control", "EmulatorConfig", "EmulatorHandle", "EmulatorState", "Fault", "create_app", "run_emulator"]

_LAZY = {
    "EmulatorConfig": ".config",
    "create_app": ".app",
    "Control": ".control",
    "Fault": ".faults",
    "EmulatorHandle": ".server",
    "run_emulator": ".server",
    "EmulatorState": ".state",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
