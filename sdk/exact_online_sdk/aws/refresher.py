"""The refresher core: the single process that rotates the OAuth token and keeps it stored in the slots.

Invoked every minute (the Lambda handler in ``lambdas/refresher`` is a thin Powertools shell around
:meth:`TokenRefresher.run`). Every decision is on Exact's clock (:class:`~exact_online_sdk.auth.timebase.ServerClock`,
measured on every token answer; a cold container adopts the offset stored with the token); every Exact call,
back-off and write fits the invocation's ``deadline`` with ``write_reserve`` seconds kept for the write: what
does not fit waits for the next run. Each run:

1. reads both slots (AWSCURRENT); a slot that does not parse is absent (``CorruptSlots``) and is written next;
2. before the first consent there is nothing to do: ``AwaitingConsent`` = 1 and a normal return;
3. exits at once when the token is not due; when Exact's 570 s window opens within ``max_wait`` seconds it waits
   inside the run (when that fits), so the refresh lands in the last half minute of the token's life;
4. when due: stores a token still waiting in memory or in the rescue store (only of the current chain, newer than
   stored; the rescue record is cleared then); honours a final refusal recorded for this generation (no token call:
   ``ChainBroken`` = 1); takes the lease (a twin invocation stays away from Exact);
5. chooses the write (older slot, ClientRequestToken) *before* calling Exact, refreshes, and stores the new token at
   once; the new token is never handed out before it is stored; if storing fails for good the token goes to the
   rescue store and the run fails loudly;
6. a lost answer is resent with the same refresh token exactly once (the resend is recorded first; at once when time
   allows, else by the next run); "Old refresh token used" after the resend means the rotation was lost: re-consent;
7. a final refusal (reused, expired, invalid client) raises once, is recorded, and no token call is made for that
   generation until a new consent writes a higher one; token-endpoint errors stay under Exact's 10 per hour and
   calls under the daily budget (``TokenCallsToday``).
Runs are idempotent: a duplicate run re-reads the slots and finds nothing due; a run that loses a race (at Exact, or
to a re-consent landing mid-refresh) reports ``superseded`` without an alarm.
No Powertools here: metrics go to a small :class:`MetricsSink`; all time comes from the injected clock.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from ..auth.errors import (
    InvalidClient,
    RefreshTokenExpired,
    RefreshTokenReused,
    TokenEndpointError,
    TokenEndpointUnreachable,
    TokenOutcomeUnknown,
    TooEarlyToRefresh,
)
from ..auth.oauth import TokenAnswer
from ..auth.store import GenerationConflict, TokenStoreError
from ..auth.timebase import ServerClock, as_server_clock
from ..auth.token import Token, utc_day
from ..clock import Clock
from ..exceptions import TokenError
from . import metrics_names as m
from .lease import CallBook, MemoryCallBook, RefresherLease
from .rescue import RescueRecord, RescueStore
from .slots import SecretsManagerTokenStorage, SlotState, WriteIntent, newest

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

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
"""Exact's token endpoint as a plain function: refresh ``token`` and return the next generation."""


class TokenEndpoint(Protocol):
    """What the refresher needs from Exact's token endpoint (:class:`~exact_online_sdk.auth.oauth.OAuthEndpoint`)."""

    def refresh_answer(self, token: Token, *, timeout: float | None = None) -> TokenAnswer: ...


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

    def last(self, name: str) -> float | None:
        """The latest value of a gauge, or None."""
        values = [v for n, v, _, _ in self.points if n == name]
        return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """When and how to refresh (seconds unless said otherwise).

    ``min_age + skew_margin`` after issue on Exact's clock the token is due; the run waits in-run for up to
    ``max_wait``. An Exact call starts only when its whole ``call_timeout`` plus ``write_reserve`` fit before the
    deadline (a shorter timeout could cut off a successful answer: the rotated token would be lost).
    ``max_errors_per_hour`` keeps token-endpoint errors under Exact's 10 per hour; ``daily_call_budget`` leaves
    part of Exact's ~200 daily calls for a re-consent. ``race_grace`` is how long a run that got "Old refresh
    token used" looks for a twin's newer generation (stored, or in the rescue store) before calling it final."""

    min_age: float = 570.0
    skew_margin: float = 3.0
    max_wait: float = 60.0
    server_error_retries: int = 3
    retry_delay: float = 2.0
    race_grace: float = 25.0
    reread_lead: float = 2.0
    call_timeout: float = 15.0
    write_reserve: float = 20.0
    resend_pause: float = 2.0
    max_errors_per_hour: int = 8
    daily_call_budget: int = 190


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What a run did: ``action`` is one of not_due, refreshed, recovered, superseded, awaiting_consent,
    chain_broken, busy (another invocation holds the lease), deferred (did not fit; the next run goes on)."""

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


class _Superseded(Exception):
    """Internal: a newer generation was stored by someone else while this run worked."""

    def __init__(self, latest: Token) -> None:
        super().__init__("superseded")
        self.latest = latest


class _Deferred(Exception):
    """Internal: what is left does not fit this invocation; the next run goes on."""


def client_fingerprint(client_id: str, client_secret: str) -> str:
    """A short, non-reversible tag of the client credentials (a refusal for invalid_client is tied to them)."""
    return hashlib.sha256(f"exact-client:{client_id}:{client_secret}".encode()).hexdigest()[:12]


class TokenRefresher:
    """Refreshes the token stored in ``store`` through ``endpoint`` when Exact's rules allow it (see module doc).

    ``endpoint`` is an :class:`~exact_online_sdk.auth.oauth.OAuthEndpoint` (or any object with
    ``refresh_answer(token, timeout=)``), or a plain ``refresh(token) -> Token`` function. ``clock`` should be the
    endpoint's :class:`~exact_online_sdk.auth.timebase.ServerClock` (one is made otherwise). ``lease`` and
    ``book`` come from the coordination table when one is configured.
    """

    def __init__(
        self,
        store: SecretsManagerTokenStorage,
        endpoint: TokenEndpoint | RefreshFn,
        *,
        clock: Clock,
        metrics: MetricsSink | None = None,
        rescue: RescueStore | None = None,
        policy: RefreshPolicy | None = None,
        writer: str = "refresher",
        lease: RefresherLease | None = None,
        book: CallBook | None = None,
        client: str = "",
    ) -> None:
        if not store.writable:
            raise ValueError("the refresher needs a writable store: SecretsManagerTokenStorage(..., writable=True)")
        self.store = store
        self._endpoint = endpoint
        self._clock: ServerClock = as_server_clock(clock)
        self.metrics: MetricsSink = metrics if metrics is not None else RecordingMetrics()
        self.rescue = rescue
        self.policy = policy or RefreshPolicy()
        self.writer = writer
        self.lease = lease
        self.book: CallBook = book if book is not None else MemoryCallBook()
        self.client = client
        # Survive in a warm Lambda container: a token that could not be stored anywhere yet, and what this
        # container knows when the rescue store is missing or unreadable.
        self._pending: Token | None = None
        self._marker: RescueRecord | None = None
        self._not_before: dict[tuple[str, int], float] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        metrics: MetricsSink | None = None,
        secrets_client: Any = None,
        dynamodb_client: Any = None,
        http_client: httpx.Client | None = None,
        holder: str = "refresher",
    ) -> TokenRefresher:
        """The refresher as the stack configures it (:class:`~exact_online_sdk.config.Settings`, default the
        environment): the slots (writable), the rescue secret, the app's credentials, ``EXACT_BASE_URL``, and
        the lease and call book in ``EXACT_COORDINATION_TABLE`` when set (without it: no lease, the call book in
        memory). ``holder`` names this invocation in the lease (the Lambda request id)."""
        from ..auth._settings import settings_from
        from ..auth.oauth import OAuthEndpoint
        from ._boto import make_secretsmanager_client
        from .app_credentials import load_app_credentials
        from .lease import DynamoCallBook, dynamo_client

        s = settings_from(settings)
        server = as_server_clock(clock)
        secrets = secrets_client or make_secretsmanager_client()
        store = SecretsManagerTokenStorage.from_settings(
            s, client=secrets, clock=server.local, writer="refresher", writable=True
        )
        rescue = RescueStore(s.rescue_secret, client=secrets, clock=server.local) if s.rescue_secret else None
        creds = load_app_credentials(s, secrets)
        endpoint = OAuthEndpoint(
            s.host,
            creds.client_id,
            creds.client_secret,
            # A refresh sends no redirect URI; the endpoint class requires one for code exchanges only.
            creds.redirect_uri or "https://localhost/unused-by-refresh",
            http_client=http_client,
            clock=server,
            timeout=RefreshPolicy().call_timeout,
            writer="refresher",
        )
        lease: RefresherLease | None = None
        book: CallBook | None = None
        if s.coordination_table:
            ddb = dynamodb_client or dynamo_client()
            chain_key = store.slot_ids["A"]
            lease = RefresherLease(s.coordination_table, chain_key, client=ddb, clock=server.local, holder=holder)
            book = DynamoCallBook(s.coordination_table, chain_key, ddb)
        return cls(
            store,
            endpoint,
            clock=server,
            metrics=metrics,
            rescue=rescue,
            lease=lease,
            book=book,
            client=client_fingerprint(creds.client_id, creds.client_secret),
        )

    @property
    def clock(self) -> ServerClock:
        """Exact's clock as this refresher knows it."""
        return self._clock

    # -- the run -------------------------------------------------------------------------------------------------
    def run(
        self, *, max_wait: float | None = None, deadline: float | None = None, invocation: str | None = None
    ) -> RefreshOutcome:
        """One scheduled run; ``deadline`` is the local epoch second by which it must be done (a Lambda's
        remaining time), ``invocation`` names the run in the lease (the Lambda request id). Raises
        :class:`RefreshFailed` (after emitting its metric) when it cannot succeed."""
        max_wait = self.policy.max_wait if max_wait is None else max_wait
        if invocation is not None and self.lease is not None:
            self.lease.holder = invocation
        deadline = math.inf if deadline is None else deadline
        states = self._read()
        self.metrics.put(m.CORRUPT_SLOTS, float(sum(s.corrupt for s in states)), "Count")
        current = newest(states)
        if current is None:
            self._pending = None  # only a consent starts a chain; a token of an old one never comes back
            return self._awaiting_consent()
        self._clock.adopt(current.clock_offset)
        self._seed_book(current)
        self.metrics.put(m.AWAITING_CONSENT, 0.0, "Count")
        if self._due_in(current) > max_wait and self._pending is None:
            self._gauges(current, broken=False)
            return RefreshOutcome("not_due", current.generation, current.expires_in(self._clock.now()))
        record = self._rescue_record()
        recovered = self._recover(current, record, states)
        if recovered is not None:
            current, record, states = recovered, None, self._read()
        broken = self._broken(current, record)
        self._gauges(current, broken=broken is not None)
        if broken is not None:
            logger.error("generation %d is refused for good (%s): waiting for a re-consent", current.generation, broken)
            return RefreshOutcome("chain_broken", current.generation, current.expires_in(self._clock.now()))
        wait = self._due_in(current)
        if wait > max_wait:
            action = "recovered" if recovered is not None else "not_due"
            return RefreshOutcome(action, current.generation, current.expires_in(self._clock.now()))
        if not self._fits(max(0.0, wait), deadline):
            logger.warning("the refresh window opens too late for this invocation; the next run refreshes")
            return RefreshOutcome("deferred", current.generation, current.expires_in(self._clock.now()))
        if self.lease is not None:
            if not self._take_lease(current, deadline):
                return RefreshOutcome("busy", current.generation, current.expires_in(self._clock.now()))
            states = self._read()  # the lease's previous holder may have stored the next generation just now
            latest = newest(states)
            if latest is not None and latest.generation != current.generation:
                self.lease.release()
                return RefreshOutcome("superseded", latest.generation, latest.expires_in(self._clock.now()))
        try:
            resend = record is not None and record.kind == "outcome_unknown" and record.about(current)
            return self._wait_and_refresh(current, states, wait, deadline, resend)
        finally:
            if self.lease is not None:
                self.lease.release()

    def _awaiting_consent(self) -> RefreshOutcome:
        # Before the first consent: visible, never alarmed, and not a failure (nothing in the failure queue).
        self.metrics.put(m.AWAITING_CONSENT, 1.0, "Count")
        self.metrics.put(m.CHAIN_BROKEN, 0.0, "Count")
        self.metrics.put(m.TOKEN_SECONDS_LEFT, 0.0, "Seconds")
        logger.info("no token stored yet: waiting for the first consent (the bootstrap)")
        return RefreshOutcome("awaiting_consent", 0, 0.0)

    def _due_in(self, token: Token) -> float:
        due = token.issued_at + self.policy.min_age + self.policy.skew_margin
        due = max(due, self._not_before.get((token.chain_id, token.generation), due))
        return due - self._clock.now()

    def _local(self) -> float:
        return self._clock.local.now()

    def _fits(self, seconds: float, deadline: float) -> bool:
        """True when ``seconds`` of waiting, one Exact call and the write still fit before ``deadline``."""
        return self._local() + seconds + self.policy.call_timeout + self.policy.write_reserve <= deadline

    def _read(self) -> list[SlotState]:
        try:
            return self.store.read_slots()
        except TokenStoreError as exc:
            self._fail("StoreUnreadable", str(exc))

    def _take_lease(self, current: Token, deadline: float) -> bool:
        assert self.lease is not None
        until = deadline if math.isfinite(deadline) else self._local() + 900
        try:
            return self.lease.acquire(until, current.generation)
        except TokenStoreError as exc:
            self._fail("StoreUnreadable", f"the coordination table failed: {exc}", generation=current.generation)

    def _wait_and_refresh(
        self, current: Token, states: list[SlotState], wait: float, deadline: float, resend: bool
    ) -> RefreshOutcome:
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
        try:
            return self._refresh_and_store(current, states, waited, deadline, resend)
        except _Superseded as lost:
            latest = lost.latest
            logger.info("generation %d was stored by another writer meanwhile; nothing to do", latest.generation)
            return RefreshOutcome("superseded", latest.generation, latest.expires_in(self._clock.now()), None, waited)
        except _Deferred:
            return RefreshOutcome("deferred", current.generation, current.expires_in(self._clock.now()), None, waited)

    # -- recovery of a token that was refreshed but not stored -------------------------------------------------
    def _rescue_record(self) -> RescueRecord | None:
        if self.rescue is None:
            return self._marker
        try:
            record = self.rescue.load()
        except TokenStoreError as exc:
            logger.error("cannot read the rescue store: %s", exc)
            return self._marker
        return record if record is not None else self._marker

    def _recover(self, current: Token, record: RescueRecord | None, states: list[SlotState]) -> Token | None:
        """Store a token held in memory or in the rescue store when it continues the stored chain."""
        candidates = [t for t in (self._pending, record.token if record is not None else None) if t is not None]
        ahead = [t for t in candidates if _continues(t, current)]
        if record is not None and record.kind == "token" and record.token is not None and record.token not in ahead:
            # Defect 9: a rescue copy of another chain, or one the slots already passed, never comes back.
            logger.warning(
                "ignoring a rescue record of generation %d: not ahead of the stored chain", record.generation
            )
            self._clear_rescue(record)
        if not ahead:
            self._pending = None
            return None
        token = max(ahead, key=lambda t: t.generation)
        try:
            intent = self.store.save(token, expected_generation=current.generation, states=states)
        except GenerationConflict:
            logger.warning("a rescued token (generation %d) was superseded; dropping it", token.generation)
            self._pending = None
            return None
        except TokenStoreError as exc:
            self._fail("StoreFailed", f"still cannot store generation {token.generation}: {exc}")
        self._pending = None
        if record is not None and record.kind == "token":
            self._clear_rescue(record)
        self.metrics.put(m.SLOT_WRITES, 1, "Count", {m.DIMENSION_SLOT: intent.slot})
        logger.warning("stored the rescued token generation %d in slot %s", token.generation, intent.slot)
        return token

    def _clear_rescue(self, record: RescueRecord) -> None:
        self._marker = None
        if self.rescue is None:
            return
        try:
            self.rescue.clear(record.generation, record.chain_id, self._clock.now())
        except TokenStoreError as exc:
            logger.error("could not clear the rescue record: %s", exc)

    def _broken(self, current: Token, record: RescueRecord | None) -> str | None:
        """Why ``current`` must not be sent to Exact again (a recorded final refusal), else None."""
        if record is None or not record.about(current):
            return None
        if record.kind == "refused":
            if record.reason == "InvalidClient" and record.client and self.client and record.client != self.client:
                return None  # the client credentials were fixed: try again
            return record.reason
        if record.kind == "outcome_unknown" and record.resends >= 1:
            return "OutcomeUnknown"  # lost, resent once, lost again: the chain cannot be known to live
        return None

    # -- refresh -------------------------------------------------------------------------------------------------
    def _refresh_and_store(
        self, current: Token, states: list[SlotState], waited: float, deadline: float, resend: bool
    ) -> RefreshOutcome:
        # Chosen before Exact is called: a retry after a lost answer reuses the same request.
        intent = self.store.prepare_write(current.generation, states)
        answer = self._call_exact(current, deadline, resend)
        if answer.anomalies:
            self.metrics.put(m.MALFORMED_ANSWERS, 1, "Count")
            logger.error("Exact's answer was odd (%s); stored anyway", "; ".join(answer.anomalies))
        now = self._clock.now()
        day = utc_day(now)
        new = answer.token.replace(
            generation=current.generation + 1,
            chain_id=current.chain_id,
            writer=self.writer,
            clock_offset=round(self._clock.offset, 3),
            calls_day=day,
            calls_today=max(self.book.calls_today(now), current.calls_on(day)),
        )
        stored = self._store_new(current, new, intent, states, deadline)
        self.metrics.put(m.REFRESHES, 1, "Count")
        self.metrics.put(m.SLOT_WRITES, 1, "Count", {m.DIMENSION_SLOT: stored.slot})
        self.metrics.put(m.CHAIN_BROKEN, 0.0, "Count")
        self._gauge(new.expires_in(now))
        if self._marker is not None or resend:
            record = self._marker or RescueRecord("cleared", current.generation, now, "", chain_id=current.chain_id)
            self._clear_rescue(record)
        logger.info("refreshed to generation %d (slot %s)", new.generation, stored.slot)
        return RefreshOutcome("refreshed", new.generation, new.expires_in(now), stored.slot, waited)

    def _store_new(
        self, current: Token, new: Token, intent: WriteIntent, states: list[SlotState], deadline: float
    ) -> WriteIntent:
        # Keep time for the rescue write should the slots fail.
        slot_deadline = deadline - self.policy.write_reserve / 2
        try:
            return self.store.save(
                new, expected_generation=current.generation, intent=intent, states=states, deadline=slot_deadline
            )
        except GenerationConflict as exc:
            latest = self._latest()
            if latest is not None and latest.generation > current.generation:
                # Defect 10: a re-consent (or a twin) stored a newer generation while this refresh ran. Ours is
                # obsolete: no rescue copy, no alarm.
                raise _Superseded(latest) from exc
            failure: Exception = exc
        except TokenStoreError as exc:
            failure = exc
        self._pending = new
        self._rescue(RescueRecord("token", new.generation, self._clock.now(), "StoreFailed", new, new.chain_id))
        self._fail(
            "StoreFailed",
            f"generation {new.generation} was refreshed but could not be stored ({failure}); "
            "a rescue copy was kept and the next run stores it",
            generation=new.generation,
        )

    def _call_exact(self, current: Token, deadline: float, resend: bool) -> TokenAnswer:
        """The answer to the refresh of ``current`` (see the module doc for the rules)."""
        attempt = 0
        if resend:
            self._record_resend(current)
        while True:
            timeout = self._call_window(current, deadline)
            self._count_call(current)
            try:
                return self._send(current, timeout)
            except (TokenEndpointUnreachable, TokenEndpointError) as exc:
                if exc.status_code is not None and 400 <= exc.status_code < 500 and exc.status_code != 429:
                    self.book.add_error(self._clock.now())
                if not exc.retryable:
                    self._fail("Other", str(exc), generation=current.generation)
                attempt += 1
                reason = "Unreachable" if isinstance(exc, TokenEndpointUnreachable) else "ServerError"
                delay = self.policy.retry_delay * attempt
                if attempt > self.policy.server_error_retries or not self._fits(delay, deadline):
                    self._fail(
                        reason,
                        f"Exact's token endpoint failed {attempt} time(s): {exc}; the next run tries again",
                        generation=current.generation,
                    )
                logger.warning("token endpoint failed (%s); retrying", type(exc).__name__)
                self._clock.sleep(delay)
            except TokenOutcomeUnknown:
                latest = self._latest()
                if latest is not None and latest.generation > current.generation:
                    raise _Superseded(latest) from None
                if resend:
                    self._fail(
                        "OutcomeUnknown",
                        f"the refresh of generation {current.generation} got no answer, and its one resend got "
                        "none either; it is not sent again. The current access token works until it expires; "
                        "re-consent (bootstrap) if it does",
                        generation=current.generation,
                    )
                if not self._fits(self.policy.resend_pause, deadline):
                    self._remember(
                        RescueRecord(
                            "outcome_unknown",
                            current.generation,
                            self._clock.now(),
                            "OutcomeUnknown",
                            chain_id=current.chain_id,
                        )
                    )
                    self.metrics.put(m.REFRESH_FAILURES, 1, "Count", {m.DIMENSION_REASON: "OutcomeUnknown"})
                    logger.warning("the refresh got no answer; the next run resends it once")
                    raise _Deferred() from None
                logger.warning("the refresh of generation %d got no answer; resending it once", current.generation)
                resend = True
                self._record_resend(current)
                self._clock.sleep(self.policy.resend_pause)
            except (RefreshTokenReused, TooEarlyToRefresh) as exc:
                self.book.add_error(self._clock.now())
                if self._superseded(current, deadline):
                    latest = self._latest()
                    if latest is None or latest.generation <= current.generation:
                        latest = self._rescued_ahead(current) or current
                    raise _Superseded(latest) from None
                if isinstance(exc, TooEarlyToRefresh):
                    # Our clock estimate was off: never ask this generation again before it has surely expired.
                    self._not_before[(current.chain_id, current.generation)] = current.expires_at + 1
                    self._fail("TooEarly", str(exc), generation=current.generation)
                message = str(exc)
                if resend:
                    message = (
                        f"the resent refresh of generation {current.generation} got 'Old refresh token used': "
                        "Exact had rotated it and the answer was lost. Re-consent (bootstrap) now"
                    )
                self._refused(current, "RefreshTokenReused", message)
            except RefreshTokenExpired as exc:
                self.book.add_error(self._clock.now())
                self._refused(current, "RefreshTokenExpired", str(exc))
            except InvalidClient as exc:
                self.book.add_error(self._clock.now())
                self._refused(current, "InvalidClient", str(exc))

    def _send(self, current: Token, timeout: float) -> TokenAnswer:
        endpoint = self._endpoint
        refresh_answer = getattr(endpoint, "refresh_answer", None)
        if refresh_answer is not None:
            answer: TokenAnswer = refresh_answer(current, timeout=timeout)
            return answer
        assert callable(endpoint)
        token: Token = endpoint(current)
        return TokenAnswer(token)

    def _call_window(self, current: Token, deadline: float) -> float:
        """The timeout of the next Exact call, after checking the quotas and that the call and the write fit."""
        now = self._clock.now()
        if self.book.errors_last_hour(now) >= self.policy.max_errors_per_hour:
            self._fail(
                "ErrorBudget",
                f"{self.policy.max_errors_per_hour} token-endpoint errors within the hour: no call until it passes "
                "(Exact blocks the app after 10)",
                generation=current.generation,
            )
        if self.book.calls_today(now) >= self.policy.daily_call_budget:
            self._fail(
                "CallBudget",
                f"{self.policy.daily_call_budget} token-endpoint calls today: no call until 00:00 UTC",
                generation=current.generation,
            )
        if not self._fits(0.0, deadline):
            raise _Deferred()
        return self.policy.call_timeout

    def _count_call(self, current: Token) -> None:
        count = self.book.add_call(self._clock.now())
        self.metrics.put(m.TOKEN_CALLS_TODAY, float(count), "Count")

    def _seed_book(self, current: Token) -> None:
        if isinstance(self.book, MemoryCallBook):
            self.book.seed(self._clock.now(), current.calls_on(utc_day(self._clock.now())))

    def _record_resend(self, current: Token) -> None:
        # Recorded *before* the resend is sent: a crash after it can never lead to a second resend.
        self.metrics.put(m.LOST_ANSWER_RESENDS, 1, "Count")
        record = RescueRecord(
            "outcome_unknown", current.generation, self._clock.now(), "OutcomeUnknown", None, current.chain_id, 1
        )
        self._remember(record)

    def _remember(self, record: RescueRecord) -> None:
        self._marker = record
        if self._rescued_ahead(Token("", "", 0.0, 0.0, record.generation, chain_id=record.chain_id)) is not None:
            # One record fits the rescue secret: a twin's rescued token must not be overwritten by a marker.
            logger.warning(
                "the rescue store holds a newer token of this chain; the %s marker stays in memory", record.kind
            )
            return
        self._rescue(record)

    def _refused(self, current: Token, reason: str, message: str) -> NoReturn:
        record = RescueRecord(
            "refused", current.generation, self._clock.now(), reason, None, current.chain_id, client=self.client
        )
        self._remember(record)
        self.metrics.put(m.CHAIN_BROKEN, 1.0, "Count")
        self._fail(reason, message, generation=current.generation)

    def _latest(self) -> Token | None:
        try:
            return self.store.load(fresh=True)
        except TokenStoreError:
            return None

    def _superseded(self, current: Token, deadline: float) -> bool:
        """Wait briefly (within the invocation) for a concurrent writer: True once a newer generation is stored,
        or kept in the rescue store by a twin whose slot write failed (it is stored by the next run)."""
        grace = min(self.policy.race_grace, deadline - self._local() - self.policy.write_reserve / 4)
        until = self._local() + grace
        while True:
            latest = self._latest()
            if latest is not None and latest.generation > current.generation:
                return True
            if self._rescued_ahead(current) is not None:
                return True
            if self._local() + 1.0 > until:
                return False
            self._clock.sleep(1.0)

    def _rescued_ahead(self, current: Token) -> Token | None:
        """A token of ``current``'s chain, newer than it, waiting in the rescue store (another run's)."""
        if self.rescue is None:
            return None
        try:
            record = self.rescue.load()
        except TokenStoreError:
            return None
        if record is None or record.kind != "token" or record.token is None:
            return None
        return record.token if _continues(record.token, current) else None

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
        if record.kind == "token":
            self.metrics.put(m.RESCUE_WRITES, 1, "Count")

    def _gauges(self, current: Token, *, broken: bool) -> None:
        now = self._clock.now()
        self.metrics.put(m.CHAIN_BROKEN, 1.0 if broken else 0.0, "Count")
        self._gauge(current.expires_in(now))
        # From the stored state (every write carries the day's count): no extra read on a run that does nothing.
        calls = current.calls_on(utc_day(now))
        if isinstance(self.book, MemoryCallBook):
            calls = max(calls, self.book.calls_today(now))
        self.metrics.put(m.TOKEN_CALLS_TODAY, float(calls), "Count")

    def _gauge(self, seconds_left: float) -> None:
        self.metrics.put(m.TOKEN_SECONDS_LEFT, max(0.0, seconds_left), "Seconds")

    def _fail(self, reason: str, message: str, *, generation: int | None = None) -> NoReturn:
        self.metrics.put(m.REFRESH_FAILURES, 1, "Count", {m.DIMENSION_REASON: reason})
        logger.error("token refresh failed (%s): %s", reason, message)
        raise RefreshFailed(reason, message, generation=generation)


def _continues(token: Token, current: Token) -> bool:
    """True when ``token`` is a later generation of the stored chain."""
    return token.chain_id == current.chain_id and token.generation > current.generation
