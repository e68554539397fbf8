"""Emulator settings: one frozen object shared by the app, the server runner, the CLI and the fixtures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..clock import Clock, ScaledClock, SystemClock

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_WEBHOOK_SECRET", "EmulatorConfig"]

DEFAULT_CLIENT_ID = "e1e1a7e0-0000-4000-8000-000000000001"
DEFAULT_CLIENT_SECRET = "emulator-secret"
DEFAULT_WEBHOOK_SECRET = "emulator-webhook-secret"


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator behaves. Every timing reads ``clock`` (or a ScaledClock built from ``clock_scale``).

    Secrets (``clients`` values, ``webhook_secret``) are kept out of ``repr``.
    """

    clients: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}, repr=False)
    """Accepted client id -> client secret pairs."""
    redirect_uris: tuple[str, ...] = ()
    """Registered redirect URIs (exact match). Empty: loopback callbacks (``http(s)://127.0.0.1|localhost|[::1]``,
    any port and path, as RFC 8252 allows native apps) and the reserved ``example`` domains (RFC 2606), which
    can never leak a code; any other target is refused."""
    webhook_secret: str = field(default=DEFAULT_WEBHOOK_SECRET, repr=False)
    divisions: tuple[int, ...] = (1001, 1002)
    """Divisions the user may reach; the first is ``current/Me.CurrentDivision``."""
    auto_consent: bool = True
    seed: int = 1
    rows: int = 100
    """Seed rows per entity per division (line entities get three per header)."""
    table_rows: Mapping[str, int] = field(default_factory=dict)
    """Per-entity row counts by path (``financialtransaction/TransactionLines``), overriding ``rows``."""
    minutely_limit: int = 60
    daily_limit: int = 5000
    token_lifetime: float = 600.0
    refresh_window: float = 30.0
    """A refresh is accepted only in the last ``refresh_window`` seconds of the access token (570 s rule)."""
    refresh_token_lifetime: float = 30 * 86400.0
    code_lifetime: float = 180.0
    token_daily_limit: int | None = 200
    """Token-endpoint calls per client per UTC day (None: unlimited). [O] 200 per the 2021 announcement."""
    clock: Clock | None = None
    clock_scale: float | None = None
    error_quota: int | None = None
    """Errors (400/401/403/404) per client, division and endpoint per hour before blocking (None: off; Exact: 10).
    Applies to the token endpoint too (per client)."""
    error_block_seconds: float = 3600.0
    mandatory_filtering: bool = False
    """Require a $filter on standard/bulk endpoints that have a sync counterpart, as Exact does."""
    require_select: frozenset[str] = frozenset()
    """Paths answering "Please add a $select or a $top=1 statement" without either."""
    old_refresh_token_grace: bool = False
    """[U] Keep the previous refresh token valid until the new access token is first used."""
    early_refresh_consumes_token: bool = False
    """[U] Whether a too-early refresh burns the refresh token."""
    post_status: int = 201
    """[U] Status of a successful POST."""
    readonly_fields: Literal["ignore", "reject"] = "ignore"
    """[O] Read-only fields in a write body: Exact ignores them silently (its staff, in the issue tracker of its
    .NET client); ``"reject"`` answers 400 instead."""
    mandatory_fields: Literal["all", "documented", "off"] = "all"
    """Which POST-mandatory fields are enforced: ``"all"`` (the reference's and Exact's documented ones plus the
    obvious ones marked [U] in :mod:`.supplement`), ``"documented"`` (without the [U] ones) or ``"off"``."""
    validate_values: bool = True
    """[U] Refuse a written code outside the field's documented value domain (``BalanceSide`` other than D/C)."""
    top_envelope: Literal["bare", "bare_except_top1", "results"] = "bare"
    """[O] The shape of a collection page when ``$top`` is given: ``"bare"`` answers ``{"d": [...]}`` (as exactpy
    and TIM observed) unless the page needs ``__next`` or ``__count``; ``"bare_except_top1"`` keeps
    ``{"d": {"results": [...]}}`` for ``$top=1`` (TIM's observation); ``"results"`` never answers bare."""
    bare_array_top: int | None = None
    """Deprecated (use ``top_envelope``): when set, only a GET with exactly this ``$top`` answers bare."""
    webhook_validation_delay: float = 1.0
    webhook_redeliveries: tuple[float, ...] = ()
    """[U] Whether Exact sends a failed delivery (no answer, or not 2xx) again is not documented. By default the
    emulator does not; give delays (emulator seconds after each failure, e.g. ``(60, 300)``) to test a receiver
    against a sender that does."""
    webhook_require_https: bool = False
    """Exact requires HTTPS callbacks; the emulator allows http only when this is False."""
    webhook_hosts: tuple[str, ...] = ()
    """Hosts webhook callbacks may target besides loopback, reserved example names and the hosts of
    ``redirect_uris`` (Exact wants the callback on the redirect URL's domain); any other target is refused, so the
    emulator cannot be made to POST into your network."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` header values (names, no port) accepted besides loopback and the bound host: a guard against DNS
    rebinding. ``("*",)`` accepts any."""
    request_log_size: int = 10_000
    user_name: str = "emulator.user@example.com"

    def __post_init__(self) -> None:
        if not self.divisions:
            raise ValueError("EmulatorConfig.divisions must name at least one division")
        if not self.clients:
            raise ValueError("EmulatorConfig.clients must hold at least one client id")
        if self.clock_scale is not None and self.clock_scale <= 0:
            raise ValueError("EmulatorConfig.clock_scale must be positive")
        if self.rows < 0 or any(n < 0 for n in self.table_rows.values()):
            raise ValueError("row counts must not be negative")
        if self.minutely_limit < 1 or self.daily_limit < 1:
            raise ValueError("rate limits must be at least 1")
        choices = {
            "readonly_fields": ("ignore", "reject"),
            "mandatory_fields": ("all", "documented", "off"),
            "top_envelope": ("bare", "bare_except_top1", "results"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"EmulatorConfig.{name} must be one of {', '.join(allowed)}")

    @property
    def client_id(self) -> str:
        """The first configured client id."""
        return next(iter(self.clients))

    @property
    def client_secret(self) -> str:
        """The secret of :attr:`client_id`."""
        return self.clients[self.client_id]

    @property
    def current_division(self) -> int:
        return self.divisions[0]

    def make_clock(self) -> Clock:
        """The clock the emulator runs on."""
        if self.clock is not None:
            return self.clock
        if self.clock_scale is not None and self.clock_scale != 1:
            return ScaledClock(self.clock_scale)
        return SystemClock()
