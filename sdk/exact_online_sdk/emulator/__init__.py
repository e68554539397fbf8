"""A faithful local Exact Online (extra ``[emulator]``): OAuth2, the REST API of all 358 reference endpoints (plus
``hrm/Divisions`` and the bulk twins clients call), linked records, rate limits, the sync API, webhooks and
injected faults, speaking the wire format of ``FACTS.md``.

Three ways to run the same app::

    exact-online emulator --port 0            # or: python -m exact_online_sdk.emulator --port 0
    with run_emulator(EmulatorConfig()) as emu:   # uvicorn on 127.0.0.1:<free port> in a thread
        emu.base_url, emu.control.issue_token()
    httpx.Client(transport=httpx.ASGITransport(app=create_app(config)))   # in-process

pytest users: ``pytest_plugins = ["exact_online_sdk.emulator.testing"]`` gives the ``emulator`` fixture.

Layout (as moto's services): state and rules in :mod:`.state`, :mod:`.catalog`, :mod:`.store`, :mod:`.seed`,
:mod:`.oauth`, :mod:`.ratelimit`; the query engine in :mod:`.query` and :mod:`.filters`; the REST rules in
:mod:`.entities`, :mod:`.reads`, :mod:`.writes`; the wire format in :mod:`.responses`, :mod:`.atom`,
:mod:`.metadata`, :mod:`.exceptions`; routing in :mod:`.urls`; handlers in :mod:`.handlers`; ASGI layers in
:mod:`.middleware`; what the reference lacks in :mod:`.supplement`.

Choices where Exact's behaviour is uncertain ([U] in FACTS) or observed once ([O]), each configurable in
:class:`EmulatorConfig` (see also ``docs/emulator.md``):

- [O] ``$top`` answers ``{"d": [...]}`` unless the page needs ``__next`` or ``__count`` (``top_envelope``; the
  deprecated ``bare_array_top=N`` answers bare for exactly ``$top=N``).
- [O] Read-only properties in a write body are ignored (``readonly_fields="reject"`` refuses them); a number for
  an ``Edm.String`` is stored as text; ``"true"``/``"false"`` are booleans.
- [U] POST-mandatory fields beyond the reference's and Exact's documented ones (``mandatory_fields``); codes
  outside a documented value domain are refused (``validate_values``); the messages are ``Mandatory: <field>`` and
  ``Invalid value '<v>' for property '<field>'. Valid values: ...``.
- [U] Too-early refresh (< ``token_lifetime - refresh_window`` = 570 s): 400 ``access_denied`` with
  ``Reason: TooEarlyToRefreshTokens: ...``; it does not burn the refresh token (``early_refresh_consumes_token``).
- [U] Rotation: the old refresh token dies when the new pair is issued (``old_refresh_token_grace=False``); reuse
  gives 401 ``unauthorized_client`` "Old refresh token used.". Reused/unknown code or refresh token: 400
  ``invalid_grant``.
- [O] Client authentication in the body or with HTTP Basic; [U] a failed Basic header is 401 ``invalid_client``
  with ``WWW-Authenticate: Basic`` (RFC 6749 §5.2), bad body credentials 400 ``invalid_client``.
- [U] Token-endpoint daily quota (``token_daily_limit=200``): 400 ``access_denied`` with ``Reason:
  TokenRequestLimitExceeded``. Error quota (off unless ``error_quota`` is set, e.g. 10), also on the token endpoint:
  403 with ``Reason: TooManyErrors`` for ``error_block_seconds``; repeat offences extend the block.
- Rate-limit windows: the minute is clock-aligned, the day resets at 00:00 UTC; a refused call does not count.
  429 has an empty body, only the exceeded limit's headers, and no ``Retry-After``.
- 401 (missing, unknown or expired bearer token) has an empty body and ``WWW-Authenticate: Bearer``.
- [U] Successful POST: ``post_status=201``. Without ``Prefer: return=representation`` only the key and the sent
  fields are filled; the rest are null.
- [U] ``Accept: application/xml`` (or ``$format=xml``) is 415 with WCF's XML error; no ``Accept`` is Atom.
- [U] Query-option and literal errors use WCF Data Services' wording ("The query parameter '$x' begins with a
  system-reserved '$' character but is not recognized.", "Unrecognized 'Edm.Guid' literal ...").
- [U] ``read/...`` function parameters name the field spelled like them (case and a trailing ``Id`` ignored);
  others are ignored. Rows of sync/bulk endpoints carry their standard entity's URI.
- ``$filter`` string literals unescape doubled quotes (``''``) [U]. ``$skip`` is honoured on standard endpoints
  only; sync endpoints page by Timestamp and filter on ``Timestamp`` only (plus ``EntityType`` on sync/Deleted).
- Sync ``Timestamp`` values of seed rows start at 10000, so both ``gt 0L`` and ``gt 1L`` read everything.
- Mandatory filtering is off by default (``mandatory_filtering=True`` turns on Exact's 400 for standard/bulk
  endpoints with a sync counterpart; accepted fields: key, Guid fields, Created, Modified).
- [U] ``sync/Deleted`` EntityType codes 19-21 are never produced. Webhook ``Action`` is Create/Update/Delete and
  ``EventCreatedOn`` is ISO 8601 UTC with milliseconds. The webhook secret is its own setting.
- No request-id header is added. Latency faults are real (wall-clock) seconds.
- ``/Date(ms)/`` values are the emulator clock's UTC time written as wall-clock time (see :mod:`..edm`).

A safe local service: it binds loopback, answers only known ``Host`` names (``allowed_hosts``), refuses control
calls that change state without ``Content-Type: application/json`` and ``X-Emulator-Control``, sends codes only
to registered (or loopback/reserved) redirect URIs and webhooks only to known hosts (``webhook_hosts``).
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
