"""The refresher core: the single process that rotates the OAuth token and keeps it stored in the slots.

Invoked every minute (the Lambda handler in ``lambdas/refresher`` is a thin Powertools shell around
:meth:`TokenRefresher.run`). Each run:

1. reads both slots (AWSCURRENT); stores a token still waiting in memory or in the rescue store first;
2. exits at once when the token is not due; when Exact's 570 s window opens within ``max_wait`` seconds it waits
   inside the run, so the refresh lands in the last half minute of the token's life rather than after it;
3. chooses the write (older slot, ClientRequestToken) *before* calling Exact, refreshes, and stores the new
   token at once, retrying with the same ClientRequestToken and bytes; the new token is never handed out before
   it is stored; if storing fails for good the token goes to the rescue store and the run fails loudly;
4. a 400/401 from Exact is final for the run (a metric by reason, an error, no loop); a timed-out request is an
   unknown outcome: recorded (memory and rescue store) and never resent with the same refresh token.
Runs are idempotent: a duplicate run re-reads the slots and finds nothing due, and a run that loses a race at
Exact ("Old refresh token used" while another run stored the next generation) reports ``superseded``.
No Powertools here: metrics go to a small :class:`MetricsSink`; all time comes from the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from ..auth.errors import (
    InvalidClient,
    RefreshTokenExpired,
    RefreshTokenReused,
    TokenEndpointError,
    TokenEndpointUnreachable,
    TokenOutcomeUnknown,
    TooEarlyToRefresh,
)
from ..auth.store import GenerationConflict, TokenStoreError
from ..auth.token import Token
from ..clock import Clock
from ..exceptions import TokenError
from . import metrics_names as m
from .rescue import RescueRecord, RescueStore
from .slots import SecretsManagerTokenStorage, SlotState, newest

__all__ = [
    "MetricsSink",
    "RecordingMetrics",
    "RefreshFailed",
    "RefreshOutcome",
    "RefreshPolicy",
    "TokenRefresher",
]

logger = logging.getLogger("exact_online_sdk.aws.refresher")

RefreshFn = Callable[[Token], Token]
"""Exact's token endpoint: refresh ``token`` and return the next generation (``OAuthEndpoint.refresh``)."""


class MetricsSink(Protocol):
    """Where the refresher's metrics go (Powertools EMF in Lambda, a list in tests)."""

    def put(self, name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None: ...


@dataclass
class RecordingMetrics:
    """A :class:`MetricsSink` that keeps every data point (tests, local runs)."""

    points: list[tuple[str, float, str, dict[str, str]]] = field(default_factory=list)

    def put(self, name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None:
        self.points.append((name, value, unit, dict(dimensions or {})))

    def total(self, name: str, **dimensions: str) -> float:
        """Sum of ``name`` over the points whose dimensions include ``dimensions``."""
        return sum(v for n, v, _, d in self.points if n == name and all(d.get(k) == x for k, x in dimensions.items()))


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """When to refresh: at ``min_age + skew_margin`` seconds after issue; wait in-run for up to ``max_wait``."""

    min_age: float = 570.0
    skew_margin: float = 3.0
    max_wait: float = 60.0
    server_error_retries: int = 3
    retry_delay: float = 2.0
    race_grace: float = 10.0
    reread_lead: float = 2.0


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What a run did: ``action`` is one of not_due, refreshed, recovered, superseded."""

    action: str
    generation: int
    seconds_left: float
    slot: str | None = None
    waited: float = 0.0


class RefreshFailed(TokenError):
    """The run could not keep the token fresh. ``reason`` is the metric's Reason; the message says what next."""

    def __init__(self, reason: str, message: str, *, generation: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.generation = generation


class TokenRefresher:
    """Refreshes the token stored in ``store`` through ``refresh`` when Exact's rules allow it (see module doc)."""

    def __init__(
        self,
        store: SecretsManagerTokenStorage,
        refresh: RefreshFn,
        *,
        clock: Clock,
        metrics: MetricsSink | None = None,
        rescue: RescueStore | None = None,
        policy: RefreshPolicy | None = None,
        writer: str = "refresher",
    ) -> None:
        self.store = store
        self._refresh = refresh
        self._clock = clock
        self.metrics: MetricsSink = metrics if metrics is not None else RecordingMetrics()
        self.rescue = rescue
        self.policy = policy or RefreshPolicy()
        self.writer = writer
        # Survive in a warm Lambda container: a token that could not be stored anywhere yet, and the generation
        # whose refresh had an unknown outcome.
        self._pending: Token | None = None
        self._unknown_generation: int | None = None

    # -- the run -------------------------------------------------------------------------------------------------
    def run(self, *, max_wait: float | None = None) -> RefreshOutcome:
        """One scheduled run; raises :class:`RefreshFailed` (after emitting its metric) when it cannot succeed."""
        max_wait = self.policy.max_wait if max_wait is None else max_wait
        states = self._read()
        current = newest(states)
        recovered = False
        if self._pending is not None or current is None or self._due_in(current) <= max_wait:
            rescued = self._check_rescue(current)
            stored = self._store_pending(current, rescued)
            if stored is not None:
                current, recovered = stored, True
                states = self._read()
        if current is None:
            self._gauge(0.0)
            self._fail("NoToken", "the token slots are empty: run the bootstrap (exact-online auth login)")
        self._gauge(current.expires_in(self._clock.now()))
        if self._unknown_generation == current.generation:
            self._fail(
                "OutcomeUnknown",
                f"the refresh of generation {current.generation} timed out earlier and is not resent; "
                "re-authorize (bootstrap) to start a new chain",
                generation=current.generation,
            )
        wait = self._due_in(current)
        if wait > max_wait:
            action = "recovered" if recovered else "not_due"
            return RefreshOutcome(action, current.generation, current.expires_in(self._clock.now()))
        waited = 0.0
        if wait > 0:
            # Re-read (a duplicate run may have rotated meanwhile) just *before* the window opens, so that only
            # the token request and the write lie between the window opening and the new token being stored.
            lead = min(wait, self.policy.reread_lead)
            self._clock.sleep(wait - lead)
            states = self._read()
            latest = newest(states)
            if latest is not None and latest.generation != current.generation:
                return RefreshOutcome("superseded", latest.generation, latest.expires_in(self._clock.now()))
            self._clock.sleep(max(0.0, self._due_in(current)))
            waited = wait
        return self._refresh_and_store(current, states, waited)

    def _due_in(self, token: Token) -> float:
        return token.issued_at + self.policy.min_age + self.policy.skew_margin - self._clock.now()

    def _read(self) -> list[SlotState]:
        try:
            return self.store.read_slots()
        except TokenStoreError as exc:
            self._fail("StoreUnreadable", str(exc))

    # -- recovery of a token that was refreshed but not stored -------------------------------------------------
    def _check_rescue(self, current: Token | None) -> Token | None:
        if self.rescue is None:
            return None
        try:
            record = self.rescue.load()
        except TokenStoreError as exc:
            logger.error("cannot read the rescue store: %s", exc)
            return None
        if record is None:
            return None
        if record.kind == "outcome_unknown" and current is not None and record.generation == current.generation:
            self._unknown_generation = current.generation
        if record.kind == "token" and record.token is not None:
            return record.token
        return None

    def _store_pending(self, current: Token | None, rescued: Token | None) -> Token | None:
        """Store the newest token held in memory or in the rescue store if it follows ``current``."""
        candidates = [t for t in (self._pending, rescued) if t is not None]
        base = current.generation if current is not None else 0
        ahead = [t for t in candidates if t.generation > base]
        if not ahead:
            self._pending = None
            return None
        token = max(ahead, key=lambda t: t.generation)
        try:
            intent = self.store.save(token, expected_generation=current.generation if current else None)
        except GenerationConflict:
            logger.warning("a rescued token (generation %d) was superseded; dropping it", token.generation)
            self._pending = None
            return None
        except TokenStoreError as exc:
            self._fail("StoreFailed", f"still cannot store generation {token.generation}: {exc}")
        self._pending = None
        self.metrics.put(m.SLOT_WRITES, 1, "Count", {m.DIMENSION_SLOT: intent.slot})
        logger.warning("stored the rescued token generation %d in slot %s", token.generation, intent.slot)
        return token

    # -- refresh -------------------------------------------------------------------------------------------------
    def _refresh_and_store(self, current: Token, states: list[SlotState], waited: float) -> RefreshOutcome:
        # Chosen before Exact is called: a retry after a lost answer reuses the same request.
        intent = self.store.prepare_write(current.generation, states)
        new = self._call_exact(current)
        if new is None:
            latest = self.store.load(fresh=True)
            assert latest is not None
            return RefreshOutcome("superseded", latest.generation, latest.expires_in(self._clock.now()), None, waited)
        new = new.replace(generation=current.generation + 1, writer=self.writer)
        try:
            self.store.save(new, expected_generation=current.generation, intent=intent, states=states)
        except (GenerationConflict, TokenStoreError) as exc:
            self._pending = new
            self._rescue(RescueRecord("token", new.generation, self._clock.now(), "StoreFailed", new))
            self._fail(
                "StoreFailed",
                f"generation {new.generation} was refreshed but could not be stored ({exc}); "
                "a rescue copy was kept and the next run stores it",
                generation=new.generation,
            )
        now = self._clock.now()
        self.metrics.put(m.REFRESHES, 1, "Count")
        self.metrics.put(m.SLOT_WRITES, 1, "Count", {m.DIMENSION_SLOT: intent.slot})
        self._gauge(new.expires_in(now))
        logger.info("refreshed to generation %d (slot %s)", new.generation, intent.slot)
        return RefreshOutcome("refreshed", new.generation, new.expires_in(now), intent.slot, waited)

    def _call_exact(self, current: Token) -> Token | None:
        """The new token, or None when another run already stored the next generation (a lost race)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._refresh(current)
            except (TokenEndpointUnreachable, TokenEndpointError) as exc:
                if not exc.retryable:
                    self._fail("Other", str(exc), generation=current.generation)
                # Bounded by attempts only: an expired access token does not stop a refresh at Exact (the
                # refresh token lives 30 days), and giving up at expiry turned a short 5xx burst into an outage.
                if attempt > self.policy.server_error_retries:
                    reason = "Unreachable" if isinstance(exc, TokenEndpointUnreachable) else "ServerError"
                    self._fail(
                        reason, f"Exact's token endpoint failed {attempt} time(s): {exc}", generation=current.generation
                    )
                logger.warning("token endpoint failed (%s); retrying", type(exc).__name__)
                self._clock.sleep(self.policy.retry_delay * attempt)
            except TokenOutcomeUnknown:
                self._unknown_generation = current.generation
                self._rescue(RescueRecord("outcome_unknown", current.generation, self._clock.now(), "OutcomeUnknown"))
                self._fail(
                    "OutcomeUnknown",
                    f"the refresh of generation {current.generation} timed out; the refresh token may be spent and "
                    "is not resent. The current access token stays valid until it expires; re-authorize if needed",
                    generation=current.generation,
                )
            except (RefreshTokenReused, TooEarlyToRefresh) as exc:
                if self._superseded(current):
                    logger.info("another run stored the next generation first; nothing to do")
                    return None
                reason = "RefreshTokenReused" if isinstance(exc, RefreshTokenReused) else "TooEarly"
                self._fail(reason, str(exc), generation=current.generation)
            except RefreshTokenExpired as exc:
                self._fail("RefreshTokenExpired", str(exc), generation=current.generation)
            except InvalidClient as exc:
                self._fail("InvalidClient", str(exc), generation=current.generation)

    def _superseded(self, current: Token) -> bool:
        """Wait briefly for a concurrent run's write: True once a newer generation is stored."""
        deadline = self._clock.now() + self.policy.race_grace
        while True:
            try:
                latest = self.store.load(fresh=True)
            except TokenStoreError:
                latest = None
            if latest is not None and latest.generation > current.generation:
                return True
            if self._clock.now() >= deadline:
                return False
            self._clock.sleep(1.0)

    # -- reporting -----------------------------------------------------------------------------------------------
    def _rescue(self, record: RescueRecord) -> None:
        if self.rescue is None:
            logger.error("no rescue store configured: the %s record lives only in this process", record.kind)
            return
        try:
            self.rescue.save(record)
        except TokenStoreError as exc:
            logger.error("could not write the rescue store either: %s", exc)
            return
        self.metrics.put(m.RESCUE_WRITES, 1, "Count")

    def _gauge(self, seconds_left: float) -> None:
        self.metrics.put(m.TOKEN_SECONDS_LEFT, max(0.0, seconds_left), "Seconds")

    def _fail(self, reason: str, message: str, *, generation: int | None = None) -> NoReturn:
        self.metrics.put(m.REFRESH_FAILURES, 1, "Count", {m.DIMENSION_REASON: reason})
        logger.error("token refresh failed (%s): %s", reason, message)
        raise RefreshFailed(reason, message, generation=generation)
