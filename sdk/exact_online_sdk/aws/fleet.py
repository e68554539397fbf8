"""One refresher function for many Exact connections: each chain refreshed on its own, all within one invocation.

Every scheduled invocation runs :meth:`TokenRefresher.run` once per connection, all at the same time (one thread
each, :class:`ThreadRunner`): a connection waiting inside the run for its 570 s window never delays another, each
one honours the invocation's deadline and takes its own lease in the coordination table (``lease#<its slot A>``),
and one connection's failure never stops another's refresh. The refreshers live as long as the warm container (a
token that could not be stored yet is kept per connection).

Metrics: each connection's counts go out as before (summed over the connections), and its gauges are folded into one
stack-wide value the alarms watch (:data:`~exact_online_sdk.aws.metrics_names.PER_CONNECTION` says which are also
emitted per connection, with the ``Connection`` dimension). After every connection's run the invocation fails
(:class:`ConnectionsFailed`) when one of them failed, so Lambda's error metric, the failure queue and the alarms see
it; the others are done by then.

A connection added by a deploy usually has neither app credentials nor a token yet: until the credentials secret is
filled, it is reported as waiting for its consent (``AwaitingConsent``, no failure). Once it holds a chain, missing
credentials are a failure (reason ``Config``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from ..clock import Clock, SystemClock
from ..exceptions import ConfigError
from . import metrics_names as m
from .connections import ConnectionConfig, connection_configs, connection_settings
from .refresher import MetricsSink, RecordingMetrics, RefreshFailed, RefreshOutcome, RefreshPolicy, TokenRefresher

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

__all__ = [
    "DEPLOYED_POLICY",
    "ConnectionsFailed",
    "FleetOutcome",
    "RefresherFleet",
    "Runner",
    "ThreadRunner",
]

logger = logging.getLogger("exact_online_sdk.aws.fleet")

DEPLOYED_POLICY = RefreshPolicy(idle_recheck=300.0)
"""The policy of the deployed refresher of several connections: a chain that is not due is re-read at least every
five minutes (a damaged slot is reported within five minutes) and otherwise answered from the container's last read.
A single connection keeps :class:`RefreshPolicy`'s default (a read every run)."""

_GAUGES = frozenset({m.AWAITING_CONSENT, m.CHAIN_BROKEN, m.TOKEN_SECONDS_LEFT, m.TOKEN_CALLS_TODAY, m.CORRUPT_SLOTS})
_UNITS = {m.TOKEN_SECONDS_LEFT: "Seconds"}


class Runner(Protocol):
    """Runs every task to completion, all at the same time (the tasks never raise)."""

    def __call__(self, tasks: Sequence[Callable[[], None]]) -> None: ...


class ThreadRunner:
    """A :class:`Runner` on a thread pool with one thread per task, kept across warm invocations."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._size = 0

    def __call__(self, tasks: Sequence[Callable[[], None]]) -> None:
        if len(tasks) <= 1:
            for task in tasks:
                task()
            return
        if self._pool is None or self._size < len(tasks):
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            # One thread per connection: a connection waiting for its window must not hold up one that is due.
            self._pool = concurrent.futures.ThreadPoolExecutor(len(tasks), thread_name_prefix="refresher")
            self._size = len(tasks)
        concurrent.futures.wait([self._pool.submit(task) for task in tasks])


@dataclass(frozen=True)
class FleetOutcome:
    """What one invocation did: each connection's outcome, and the failures (by connection)."""

    outcomes: Mapping[str, RefreshOutcome]
    failures: Mapping[str, RefreshFailed]

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: per connection its action (or ``failed: <reason>``), generation and validity left."""
        connections: dict[str, Any] = {}
        for name, outcome in self.outcomes.items():
            connections[name] = {
                "action": outcome.action,
                "generation": outcome.generation,
                "seconds_left": round(outcome.seconds_left, 1),
                "slot": outcome.slot,
                "waited": round(outcome.waited, 1),
            }
        for name, failure in self.failures.items():
            connections[name] = {"action": f"failed: {failure.reason}", "generation": failure.generation}
        return connections


class ConnectionsFailed(RefreshFailed):
    """Connections of a multi-connection invocation failed (the others were refreshed); ``failures`` by name."""

    def __init__(self, failures: Mapping[str, RefreshFailed], outcome: FleetOutcome) -> None:
        reasons = sorted({f.reason for f in failures.values()})
        listed = ", ".join(f"{name} ({f.reason})" for name, f in sorted(failures.items()))
        total = len(outcome.outcomes) + len(failures)
        super().__init__(
            reasons[0] if len(reasons) == 1 else "Several",
            f"{len(failures)} of {total} connections failed: {listed}; the others ran normally",
        )
        self.failures = dict(failures)
        self.outcome = outcome


class _ConnectionMetrics:
    """One connection's :class:`MetricsSink`: counts go to the stack's sink at once (and failures also with the
    ``Connection`` dimension); gauges are kept, folded over the connections at the end of the invocation."""

    def __init__(self, name: str, sink: MetricsSink, lock: threading.Lock, *, per_connection: bool) -> None:
        self.name = name
        self._sink = sink
        self._lock = lock
        self.per_connection = per_connection
        self.gauges: dict[str, float] = {}

    def put(self, name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None:
        if name in _GAUGES and not dimensions:
            self.gauges[name] = value  # the last value of the run is the state it ends in
            return
        with self._lock:
            self._sink.put(name, value, unit, dimensions)
            if self.per_connection and name in m.PER_CONNECTION:
                self._sink.put(name, value, unit, {**(dimensions or {}), m.DIMENSION_CONNECTION: self.name})


Member = TokenRefresher | Callable[[], TokenRefresher]
"""A connection's refresher, or how to build it (built on its first run, again after a failed build)."""


class RefresherFleet:
    """The refreshers of several connections, run together (see the module doc).

    ``members`` maps connection names to their :class:`TokenRefresher` (or a function building it); the fleet
    replaces each refresher's metrics sink with its own. ``has_chain`` (by name) says whether a connection whose
    refresher cannot be built yet already holds a chain (None: it does). ``clock`` is the host's (AWS's) clock.
    """

    def __init__(
        self,
        members: Mapping[str, Member],
        *,
        clock: Clock | None = None,
        metrics: MetricsSink | None = None,
        runner: Runner | None = None,
        has_chain: Mapping[str, Callable[[], bool]] | None = None,
        secrets_client: Any = None,
        dynamodb_client: Any = None,
    ) -> None:
        if not members:
            raise ValueError("a refresher fleet needs at least one connection")
        self.clock: Clock = clock or SystemClock()
        self.metrics: MetricsSink = metrics if metrics is not None else RecordingMetrics()
        self.runner: Runner = runner or ThreadRunner()
        self.secrets_client = secrets_client
        self.dynamodb_client = dynamodb_client
        self._lock = threading.Lock()
        self._builders: dict[str, Callable[[], TokenRefresher]] = {}
        self._refreshers: dict[str, TokenRefresher] = {}
        # One connection (a single-connection stack) emits exactly what it did before: no Connection dimension.
        several = len(members) > 1
        self._sinks = {
            name: _ConnectionMetrics(name, self.metrics, self._lock, per_connection=several) for name in members
        }
        self._has_chain = dict(has_chain or {})
        for name, member in members.items():
            if isinstance(member, TokenRefresher):
                self._adopt(name, member)
            else:
                self._builders[name] = member

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
        runner: Runner | None = None,
        policy: RefreshPolicy | None = None,
    ) -> RefresherFleet:
        """The fleet as the stack configures it: every connection of
        :func:`~exact_online_sdk.aws.connections.connection_configs` (``EXACT_CONNECTIONS``, or the one connection
        of the single-connection variables), sharing one Secrets Manager client, one DynamoDB client and one HTTP
        client; each refresher is built from its connection's view of the settings on its first run."""
        import httpx

        from ..auth._settings import settings_from
        from ._boto import make_client
        from .lease import dynamo_client

        s = settings_from(settings)
        configs = connection_configs(s)
        if not configs:
            raise ConfigError(
                "no token slots configured: set EXACT_TOKEN_SECRET_A/_B (one connection) or EXACT_CONNECTIONS",
                variable="EXACT_CONNECTIONS",
            )
        local = clock or SystemClock()
        pool = len(configs) + 2
        secrets = secrets_client or make_client("secretsmanager", max_pool_connections=pool)
        ddb = dynamodb_client
        if ddb is None and s.coordination_table:
            ddb = dynamo_client(max_pool_connections=pool)
        # One connection keeps the policy of before (reads every run: a damaged slot is reported within the minute).
        policy = policy or (DEPLOYED_POLICY if len(configs) > 1 else RefreshPolicy())
        http = http_client or httpx.Client(
            timeout=policy.call_timeout, limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        )
        members: dict[str, Member] = {}
        probes: dict[str, Callable[[], bool]] = {}
        for name, config in configs.items():
            members[name] = partial(
                TokenRefresher.from_settings,
                connection_settings(s, config),
                clock=local,
                secrets_client=secrets,
                dynamodb_client=ddb,
                http_client=http,
                policy=policy,
            )
            probes[name] = partial(_holds_chain, config, secrets, local)
        return cls(
            members,
            clock=local,
            metrics=metrics,
            runner=runner,
            has_chain=probes,
            secrets_client=secrets,
            dynamodb_client=ddb,
        )

    @property
    def connections(self) -> list[str]:
        """The connection names, in the configured order."""
        return list(self._sinks)

    def refresher(self, name: str) -> TokenRefresher | None:
        """The refresher of connection ``name`` once built (None before its first run, or while it cannot be)."""
        return self._refreshers.get(name)

    def prepare(self) -> dict[str, TokenRefresher]:
        """Build now every connection's refresher that can be built (a cold start does it on the first run; tests
        call this to reach the refreshers before they run). Those that cannot be built yet are tried again on their
        run; returns the built ones by name."""
        for name in self._sinks:
            try:
                self._build(name)
            except Exception as exc:  # reported by the connection's run, with its reason
                logger.info("connection %s: not built yet (%s)", name, type(exc).__name__)
        return dict(self._refreshers)

    # -- the run -------------------------------------------------------------------------------------------------
    def run(self, *, deadline: float | None = None, invocation: str | None = None) -> FleetOutcome:
        """One scheduled invocation for every connection (``deadline``: local epoch seconds, as for
        :meth:`TokenRefresher.run`). Raises the failure (one connection) or :class:`ConnectionsFailed` (several)
        after every connection ran and the metrics were emitted."""
        outcomes: dict[str, RefreshOutcome] = {}
        failures: dict[str, RefreshFailed] = {}
        for sink in self._sinks.values():
            sink.gauges.clear()
        tasks = [partial(self._run_one, name, deadline, invocation, outcomes, failures) for name in self._sinks]
        self.runner(tasks)
        self._emit_gauges()
        outcome = FleetOutcome(
            {name: outcomes[name] for name in self._sinks if name in outcomes},
            {name: failures[name] for name in self._sinks if name in failures},
        )
        if failures:
            if len(self._sinks) == 1:
                raise next(iter(failures.values()))
            raise ConnectionsFailed(outcome.failures, outcome)
        return outcome

    def _run_one(
        self,
        name: str,
        deadline: float | None,
        invocation: str | None,
        outcomes: dict[str, RefreshOutcome],
        failures: dict[str, RefreshFailed],
    ) -> None:
        sink = self._sinks[name]
        try:
            refresher = self._build(name)
            if refresher is None:
                outcomes[name] = self._awaiting_setup(name)
                return
            outcomes[name] = refresher.run(deadline=deadline, invocation=invocation)
        except RefreshFailed as exc:
            failures[name] = exc
        except Exception as exc:  # one connection's surprise must not stop the others
            reason = "Config" if isinstance(exc, ConfigError) else "Other"
            logger.error("connection %s: the refresher failed (%s: %s)", name, type(exc).__name__, exc)
            sink.put(m.REFRESH_FAILURES, 1, "Count", {m.DIMENSION_REASON: reason})
            failures[name] = RefreshFailed(reason, f"{type(exc).__name__}: {exc}")

    def _build(self, name: str) -> TokenRefresher | None:
        """The connection's refresher; None while it has neither a chain nor app credentials (a new connection)."""
        if name in self._refreshers:
            return self._refreshers[name]
        try:
            refresher = self._builders[name]()
        except Exception:
            probe = self._has_chain.get(name)
            if probe is not None and not probe():
                return None
            raise
        self._adopt(name, refresher)
        return refresher

    def _adopt(self, name: str, refresher: TokenRefresher) -> None:
        refresher.metrics = self._sinks[name]
        self._refreshers[name] = refresher

    def _awaiting_setup(self, name: str) -> RefreshOutcome:
        logger.info("connection %s: no token and no app credentials yet (put them, then run its consent)", name)
        sink = self._sinks[name]
        sink.put(m.AWAITING_CONSENT, 1.0, "Count")
        sink.put(m.CHAIN_BROKEN, 0.0, "Count")
        sink.put(m.TOKEN_SECONDS_LEFT, 0.0, "Seconds")
        return RefreshOutcome("awaiting_consent", 0, 0.0)

    # -- metrics ---------------------------------------------------------------------------------------------------
    def _emit_gauges(self) -> None:
        """The stack-wide gauges (what the alarms watch), then the per-connection ones."""
        reported = [s.gauges for s in self._sinks.values() if s.gauges]
        if not reported:
            return
        chains = [g for g in reported if g.get(m.AWAITING_CONSENT, 0.0) < 1]
        left = [g[m.TOKEN_SECONDS_LEFT] for g in chains if m.TOKEN_SECONDS_LEFT in g]
        folded: dict[str, float] = {}
        if any(m.AWAITING_CONSENT in g for g in reported):
            # Quiet (and TokenFreshness gated) only while no connection holds a chain yet.
            folded[m.AWAITING_CONSENT] = 0.0 if any(m.AWAITING_CONSENT in g for g in chains) else 1.0
        if left:
            # The least validity among the connections that have a chain: one falling behind is what matters.
            folded[m.TOKEN_SECONDS_LEFT] = min(left)
        elif any(m.TOKEN_SECONDS_LEFT in g for g in reported):
            folded[m.TOKEN_SECONDS_LEFT] = 0.0  # no connection has a chain yet (gated by AwaitingConsent)
        for name in (m.CHAIN_BROKEN, m.CORRUPT_SLOTS, m.TOKEN_CALLS_TODAY):
            values = [g[name] for g in reported if name in g]
            if values:
                folded[name] = max(values)
        with self._lock:
            for name, value in folded.items():
                self.metrics.put(name, value, _UNITS.get(name, "Count"))
            for sink in self._sinks.values():
                if not sink.per_connection:
                    continue
                for name in m.PER_CONNECTION:
                    if name in sink.gauges:
                        dims = {m.DIMENSION_CONNECTION: sink.name}
                        self.metrics.put(name, sink.gauges[name], _UNITS.get(name, "Count"), dims)


def _holds_chain(config: ConnectionConfig, client: Any, clock: Clock) -> bool:
    """Whether ``config``'s slots hold a token (read-only; a read error counts as "yes": report, never hide)."""
    from ..auth.store import TokenStoreError
    from .slots import SecretsManagerTokenStorage

    try:
        return SecretsManagerTokenStorage(slots=config.slots, client=client, clock=clock).load(fresh=True) is not None
    except TokenStoreError:
        return True
