"""Many Exact connections on one stack, end to end on the simulated clock (issue 17).

The harness of ``test_refresher_e2e.py`` (SimClock, latency models, the emulator and a moto server over loopback) with
one refresher serving many connections: each connection's secrets named by the stack's rule, its own Exact app on the
emulator (its own token quota), the real handler running every connection in each invocation (each connection's run
an actor of its own), workers that pick their connection by name. Kept out of ``test_refresher_e2e.py`` so the
mutation check (``tools/mutate_chain.py``, which reruns that module per planted bug) stays within its time limit.

E2E_CONNECTIONS and E2E_MANY_HOURS set the size (default 10 connections for 2 simulated hours);
``benchmarks/bench_connections.py`` runs 100 connections for 24 hours.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from exact_online_sdk.auth.oauth import OAuthEndpoint
from exact_online_sdk.auth.timebase import ServerClock
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws._boto import make_client, make_secretsmanager_client
from exact_online_sdk.aws.bootstrap import BootstrapFlow, state_key_from_client_secret
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.aws.worker import SecretsManagerTokenProvider
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.config import Settings
from tests.e2e.test_refresher_e2e import (
    AWS_SKEW,
    FRESH_MARGIN,
    REDIRECT,
    ROOT,
    START,
    Aborted,
    AwsClock,
    Ctx,
    ExactLink,
    Killed,
    Latency,
    SimClock,
    Tap,
    Worker,
    World,
    Write,
    aws_latency,
    exact_latency,
    wire_aws,
)
from tests.support.modules import load_file_module
from tests.support.moto_server import moto_server
from tests.support.stack_resources import create_connection_secrets, create_coordination_table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-connections")]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as aws:
        yield aws.url


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="exact_online_sdk")


# -- many connections on one stack --------------------------------------------------------------------------------


class JoinClock(SimClock):
    """A :class:`SimClock` on which an actor can also wait for others (``park`` until ``unpark``): an invocation
    ends exactly when its last connection's run does, without polling the clock (a poll every half second of
    simulated time was a third of all thread switches of a 100-connection day)."""

    def park(self) -> None:
        """Yield until another actor calls :meth:`unpark` for this one (its kill time and an abort still apply)."""
        actor = self._by_thread.get(threading.get_ident())
        if actor is None:
            raise RuntimeError("only actors park on the simulated clock")
        with self._lock:
            following = self._pop()
        if following is not None:
            following.go.release()
        actor.go.acquire()
        if self._aborted:
            raise Aborted(actor.name)
        if actor.kill_at is not None and self._now >= actor.kill_at:
            actor.killed = True
            raise Killed(actor.name)

    def unpark(self, actor: Any) -> None:
        """Make the parked ``actor`` runnable now (after the caller yields)."""
        with self._lock:
            heapq.heappush(self._ready, (self._now, next(self._seq), actor))


class SimRunner:
    """Lambda's threads for the connections of one invocation: each connection's run is an actor (killed with the
    invocation); the invocation waits, on the simulated clock, until every one ended."""

    def __init__(self, sim: JoinClock) -> None:
        self.sim = sim

    def __call__(self, tasks: Any) -> None:
        caller = self.sim._by_thread[threading.get_ident()]
        left = [len(tasks)]
        if not tasks:
            return

        def body(task: Callable[[], None]) -> None:
            try:
                task()
            finally:
                left[0] -= 1
                if left[0] == 0:
                    self.sim.unpark(caller)

        for i, task in enumerate(tasks):
            self.sim.spawn(f"{caller.name}-{i}", lambda t=task: body(t), kill_at=caller.kill_at)
        self.sim.park()


class PerClientFaults:
    """Token-endpoint faults of one Exact app (``client_id``): ``slow5xx:<s>`` answers taken in order."""

    def __init__(self) -> None:
        self.queue: dict[str, list[str]] = {}
        self.taken: list[tuple[float, str, str]] = []

    def take(self, now: float, request: httpx.Request) -> str | None:
        if not self.queue:
            return None
        client = httpx.QueryParams(request.content.decode()).get("client_id", "")
        faults = self.queue.get(client)
        if not faults:
            return None
        fault = faults.pop(0)
        self.taken.append((now, client, fault))
        return fault


class ManyLink(ExactLink):
    """An :class:`ExactLink` whose token faults hit one app (connection) only."""

    def __init__(self, sim: SimClock, latency: Latency, faults: PerClientFaults) -> None:
        super().__init__(sim, latency)
        self.per_client = faults

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            fault = self.per_client.take(self.sim.now(), request)
            if fault is not None and fault.startswith("slow5xx:"):
                self.token_calls += 1
                self.sim.sleep(float(fault.split(":")[1]))
                return httpx.Response(503, json={"error": "temporarily_unavailable"}, request=request)
        return super().handle_request(request)


def many_clients(names: list[str]) -> dict[str, str]:
    """One Exact app per connection (client id -> secret): each has its own token quota, as separate users do."""
    return {f"e2e-app-{name}": f"secret-of-{name}" for name in names}


class ManyWorld:
    """One stack with many connections: each connection's secrets (named by the stack's rule) and its own Exact app
    on the emulator, the real refresher handler serving all of them in each invocation, workers that pick their
    connection by name, all on one :class:`SimClock`."""

    def __init__(
        self, emu: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch, names: list[str], *, seed: int
    ) -> None:
        self.emu, self.sim, self.names = emu, emu.clock, names
        self.rng = random.Random(seed)
        self.prefix = f"e2e-many{seed}-{uuid.uuid4().hex[:6]}/"
        self.client_of = {name: f"e2e-app-{name}" for name in names}
        for name in list(os.environ):
            if name.startswith("EXACT_"):
                monkeypatch.delenv(name)
        env = {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "EXACT_CONNECTIONS": json.dumps({n: {"client_id": self.client_of[n]} for n in names}),
            "EXACT_CONNECTION_PREFIX": self.prefix,
            "EXACT_BASE_URL": emu.base_url,
            "EXACT_COORDINATION_TABLE": f"{self.prefix.rstrip('/')}-coordination",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        self.sm = make_secretsmanager_client()
        self.slot_of: dict[str, tuple[str, str]] = {}  # secret name -> (connection, "A" or "B")
        for name in names:
            base = f"{self.prefix}{name}"
            for label, part in (("A", "token-a"), ("B", "token-b")):
                self.slot_of[f"{base}/{part}"] = (name, label)
            create_connection_secrets(
                self.sm,
                slots=(f"{base}/token-a", f"{base}/token-b"),
                rescue=f"{base}/rescue",
                client=f"{base}/client",
                client_secret=f"secret-of-{name}",
                redirect_uri=REDIRECT,
            )
        create_coordination_table(make_client("dynamodb"), env["EXACT_COORDINATION_TABLE"])
        self.tap = Tap(self.sim)
        self.faults = PerClientFaults()
        self.idle: list[ModuleType] = []
        self.containers = 0
        self.invocations: list[tuple[float, float, dict[str, Any]]] = []  # (start, end, per-connection outcome)
        self.links: list[ExactLink] = []
        self.kills: list[float] = []
        self.writes: list[tuple[str, Write]] = []
        self.workers: list[tuple[str, Worker]] = []
        self.consented: dict[str, float] = {}
        self.aws_calls: dict[str, int] = {}  # the refresher's AWS calls by operation

    # -- Lambda -----------------------------------------------------------------------------------------------------
    def _container(self) -> ModuleType:
        if self.idle:
            return self.idle.pop()
        self.containers += 1
        name = f"refresher_many_{self.containers}_{uuid.uuid4().hex[:6]}"
        module = load_file_module(ROOT / "lambdas" / "refresher" / "handler.py", name)
        clock = AwsClock(self.sim)
        link = ManyLink(self.sim, exact_latency(self.rng), self.faults)
        self.links.append(link)
        module.configure(
            clock=clock, tap=self.tap, http_client=httpx.Client(transport=link), runner=SimRunner(self.sim)
        )
        fleet = module.build_fleet()
        fleet.prepare()
        wire_aws(fleet.secrets_client, self.sim, aws_latency(self.rng))
        wire_aws(fleet.dynamodb_client, self.sim, aws_latency(self.rng))
        for client in (fleet.secrets_client, fleet.dynamodb_client):
            client.meta.events.register("before-call.*.*", self._count)
        self._record_writes(fleet.secrets_client)
        module._state["fleet"] = fleet
        module._state["aws_clock"] = clock
        module._state["link"] = link
        return module

    def _count(self, model: Any, **_: Any) -> None:
        self.aws_calls[model.name] = self.aws_calls.get(model.name, 0) + 1

    def _record_writes(self, client: Any) -> None:
        def before(params: Any, context: Any, **_: Any) -> None:
            context["e2e_params"] = dict(params)

        def after(model: Any, params: Any = None, http_response: Any = None, context: Any = None, **_: Any) -> None:
            sent = (context or {}).get("e2e_params", {})
            where = self.slot_of.get(sent.get("SecretId", ""))
            if http_response is not None and http_response.status_code == 200 and where is not None:
                token = Token.from_state(json.loads(sent["SecretString"]))
                self.writes.append((where[0], Write(self.sim.now(), where[1], token)))

        client.meta.events.register("before-parameter-build.secrets-manager.PutSecretValue", before)
        client.meta.events.register("after-call.secrets-manager.PutSecretValue", after)

    def invoke(self) -> None:
        module = self._container()
        clock: AwsClock = module._state["aws_clock"]
        ctx = Ctx(clock)
        module._state["link"].deadline = ctx.deadline - AWS_SKEW
        started = self.sim.now()

        def run() -> None:
            try:
                result = module.handler({"source": "aws.scheduler"}, ctx)
                self.invocations.append((started, self.sim.now(), result["connections"]))
                self.idle.append(module)
            except Killed:
                self.kills.append(self.sim.now())
            except Exception as exc:
                outcome = getattr(exc, "outcome", None)
                summary = outcome.summary() if outcome is not None else {"?": {"action": type(exc).__name__}}
                self.invocations.append((started, self.sim.now(), summary))
                self.idle.append(module)

        self.sim.spawn(f"invoke-{module.__name__}", run, kill_at=ctx.deadline - AWS_SKEW)

    # -- people and workers ---------------------------------------------------------------------------------------
    def consent(self, name: str) -> None:
        """The operator runs the consent of connection ``name`` (its own app, its own slots)."""
        client_id, secret = self.client_of[name], f"secret-of-{name}"
        clock = ServerClock(AwsClock(self.sim))
        sm = wire_aws(make_secretsmanager_client(), self.sim, aws_latency(self.rng))
        self._record_writes(sm)
        store = SecretsManagerTokenStorage.from_settings(
            Settings(connection=name), client=sm, clock=clock.local, writer="bootstrap", writable=True
        )
        http = httpx.Client(transport=ExactLink(self.sim, exact_latency(self.rng)))
        endpoint = OAuthEndpoint(self.emu.base_url, client_id, secret, REDIRECT, http_client=http, clock=clock)
        flow = BootstrapFlow(store, endpoint, state_key=state_key_from_client_secret(secret), clock=clock)
        started = flow.handle({"action": "start"})
        location = httpx.get(started["authorization_url"], follow_redirects=False).headers["location"]
        flow.handle({"action": "complete", "callback_url": location})
        self.consented[name] = self.sim.now()

    def add_worker(self, name: str) -> Worker:
        """A worker of connection ``name``: it names its connection (EXACT_CONNECTION) and nothing else."""
        clock = AwsClock(self.sim)
        sm = wire_aws(make_secretsmanager_client(), self.sim, aws_latency(self.rng))
        store = SecretsManagerTokenStorage.from_settings(Settings(connection=name), client=sm, clock=clock)
        provider = SecretsManagerTokenProvider(store, clock=clock, cache_ttl=120.0)
        client = ExactOnlineClient(
            auth=provider,
            base_url=self.emu.base_url,
            clock=clock,
            transport=ExactLink(self.sim, exact_latency(self.rng)),
        )
        worker = Worker(len(self.workers), client, provider, clock)
        self.workers.append((name, worker))
        return worker

    def work(self, worker: Worker, until: float, gap: tuple[float, float]) -> None:
        World.work(self, worker, until, gap)  # type: ignore[arg-type]

    def run(
        self,
        minutes: int,
        *,
        consent_at: dict[str, int],
        workers_on: list[str],
        worker_gap: tuple[float, float] = (20.0, 120.0),
        on_minute: Callable[[int], None] | None = None,
        twins: Callable[[int], bool] = lambda minute: False,
    ) -> None:
        origin = self.sim.now()
        end = origin + 60 * minutes + 30
        workers = [(name, self.add_worker(name)) for name in workers_on]

        def consent(name: str) -> None:
            self.consent(name)
            for connection, worker in workers:
                if connection == name:
                    self.sim.spawn(f"worker-{worker.index}", lambda w=worker: self.work(w, end, worker_gap))

        def cron() -> None:
            for minute in range(0, minutes + 1):
                self.sim.sleep(origin + 60 * minute - self.sim.now())
                for name, at in consent_at.items():
                    if at == minute:
                        self.sim.spawn(f"consent-{name}", lambda n=name: consent(n))
                if minute == 0:
                    continue
                if on_minute is not None:
                    on_minute(minute)
                self.invoke()
                if twins(minute):
                    self.invoke()

        self.sim.run("cron", cron)

    # -- evidence -----------------------------------------------------------------------------------------------------
    def stores(self) -> dict[str, list[Write]]:
        """Each connection's stored generations, in order (the first store of each generation)."""
        seen: dict[tuple[str, int], tuple[str, Write]] = {}
        for name, write in self.writes:
            seen.setdefault((write.token.chain_id, write.token.generation), (name, write))
        result: dict[str, list[Write]] = {name: [] for name in self.names}
        for name, write in sorted(seen.values(), key=lambda nw: nw[1].at):
            result[name].append(write)
        return result

    def late_stores(self, exempt: Callable[[str, float, float], bool]) -> list[tuple[str, int, float]]:
        """(connection, generation, seconds left on the previous one) of every store with less than FRESH_MARGIN
        left, unless ``exempt(connection, previous issue, store time)``."""
        late = []
        for name, writes in self.stores().items():
            for previous, write in itertools.pairwise(writes):
                if write.token.chain_id != previous.token.chain_id:
                    continue
                left = previous.token.expires_at - write.at
                if left < FRESH_MARGIN and not exempt(name, previous.token.issued_at, write.at):
                    late.append((name, write.token.generation, round(left, 1)))
        return late

    def failures(self) -> list[tuple[float, str, str]]:
        """(time, connection, reason) of every failure reported with its Connection dimension."""
        return [
            (t, d[mn.DIMENSION_CONNECTION], d[mn.DIMENSION_REASON])
            for t, n, _, d in self.tap.points
            if n == mn.REFRESH_FAILURES and mn.DIMENSION_CONNECTION in d
        ]

    def late_calls(self) -> list[tuple[float, float]]:
        return sorted(c for link in self.links for c in link.late_calls)

    def figures(self, minutes: int) -> dict[str, float]:
        """What the run cost, per connection and scaled to a 30-day month: invocations, AWS calls, Lambda time,
        and punctuality (mean refresh interval over the 570 s Exact imposes)."""
        month = 30 * 24 * 60 / minutes
        n = len(self.names)
        intervals = [
            b.token.issued_at - a.token.issued_at
            for writes in self.stores().values()
            for a, b in itertools.pairwise(writes)
            if a.token.chain_id == b.token.chain_id
        ]
        busy = sum(end - start for start, end, _ in self.invocations)
        return {
            "connections": n,
            "minutes": minutes,
            "invocations": len(self.invocations),
            "secretsmanager_calls": sum(v for k, v in self.aws_calls.items() if k in SM_OPERATIONS),
            "dynamodb_calls": sum(v for k, v in self.aws_calls.items() if k not in SM_OPERATIONS),
            "refreshes": len(intervals),
            "punctuality": (sum(intervals) / len(intervals) / 570.0) if intervals else float("nan"),
            "worst_interval_ratio": max(intervals, default=0.0) / 570.0,
            "invocation_seconds_mean": busy / max(1, len(self.invocations)),
            "sm_calls_per_connection_month": sum(v for k, v in self.aws_calls.items() if k in SM_OPERATIONS)
            * month
            / n,
            "lambda_gb_seconds_month": busy * month * 0.25,
        }


SM_OPERATIONS = frozenset({"GetSecretValue", "PutSecretValue", "DescribeSecret"})


def monthly_cost(figures: dict[str, float], *, connections: int) -> dict[str, float]:
    """eu-west-1 list prices (docs/aws.md's cost section): what the connections add to a stack, per connection."""
    sm_calls = figures["sm_calls_per_connection_month"]
    per_connection = {
        "secrets": 4 * 0.40,
        "secretsmanager_calls": sm_calls / 10_000 * 0.05,
        "kms_requests": sm_calls / 10_000 * 0.03,
        "metrics": 2 * 0.30,  # TokenSecondsLeft and ChainBroken with its Connection
    }
    shared = {
        "lambda_compute": figures["lambda_gb_seconds_month"] * 0.0000133334,
        "lambda_requests": 43_200 / 1e6 * 0.20,
        "dynamodb": figures["dynamodb_calls"] * (30 * 24 * 60 / figures["minutes"]) / 1e6 * 1.25,
    }
    result = {k: round(v, 3) for k, v in per_connection.items()}
    result["shared_per_connection"] = round(sum(shared.values()) / connections, 3)
    result["total_per_connection"] = round(sum(per_connection.values()) + sum(shared.values()) / connections, 3)
    return result


def many_emulator(names: list[str]) -> Any:
    """The emulator for :class:`ManyWorld` (a context manager): one app per connection, Exact's quotas on."""
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(
        clock=JoinClock(START),
        clients=many_clients(names),
        minutely_limit=1_000_000,
        daily_limit=10**9,
        token_daily_limit=200,
        error_quota=10,
        rows=5,
        redirect_uris=(REDIRECT,),
    )
    return run_emulator(config)


def many_connections_scenario(
    emu: Any,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    names: list[str],
    minutes: int,
    *,
    seed: int,
    on_hour: Callable[[int], None] | None = None,
) -> ManyWorld:
    """The multi-connection scenario (the suite runs it short, ``benchmarks/bench_connections.py`` 100 x 24 h):

    consents staggered over the first ten minutes (chains out of phase), one connection added without a consent
    that gets one an hour later, one connection whose Exact app answers six 503s in a row twice a day (a run of it
    fails, reported with its name; the others go on), another meeting a slow 5xx burst retried in-run, twin
    deliveries every 30th minute (each connection's lease), workers on a tenth of the connections (at least three).
    ``on_hour(hour)`` is called at the start of every simulated hour (the benchmark's progress line).
    """
    world = ManyWorld(emu, moto_url, monkeypatch, names, seed=seed)
    rng = random.Random(seed)
    late, flaky, bursty = names[-1], names[0], names[1]
    consent_at = {name: rng.randint(0, 10) for name in names if name != late}
    consent_at[late] = 60
    workers_on = [n for n in names if n not in (late, flaky)][: max(3, len(names) // 10)]

    def faults(minute: int) -> None:
        if on_hour is not None and minute % 60 == 0:
            on_hour(minute // 60)
        phase = minute % 720  # twice a day the same variety
        if phase == 30:
            # Six 503s in a row: more than one run's retries, fewer than Exact's error budget (8 an hour).
            world.faults.queue[world.client_of[flaky]] = ["slow5xx:1"] * 6
        if phase == 45:
            world.faults.queue[world.client_of[bursty]] = ["slow5xx:8", "slow5xx:6"]

    world.run(minutes, consent_at=consent_at, workers_on=workers_on, on_minute=faults, twins=lambda m: m % 30 == 0)
    return world


MANY = int(os.environ.get("E2E_CONNECTIONS", "10"))
MANY_MINUTES = int(float(os.environ.get("E2E_MANY_HOURS", "2")) * 60)


def check_many_connections(world: ManyWorld, minutes: int) -> None:
    """What the multi-connection scenario must show (shared with benchmarks/bench_connections.py)."""
    names = world.names
    late, flaky = names[-1], names[0]
    flaky_windows = [(t - 600, t + 900) for t, client, _ in world.faults.taken if client == world.client_of[flaky]]

    def exempt(name: str, issued: float, stored: float) -> bool:
        # A cycle in which its own app answered 5xx (retried in-run, or a failed run): late by design.
        if any(issued <= t <= stored for t, client, _ in world.faults.taken if client == world.client_of[name]):
            return True
        return name == flaky and any(a <= stored and issued <= b for a, b in flaky_windows)

    assert world.kills == [], f"Lambda killed invocations at {world.kills}"
    assert world.late_calls() == [], "token calls that did not fit the invocation"
    assert max(world.tap.values(mn.CHAIN_BROKEN), default=0) == 0, "a chain broke"
    assert world.emu.control.counters().get("rejected_refresh_tokens", 0) == 0  # leases kept twins apart
    assert world.emu.control.counters().get("early_refreshes", 0) == 0
    # Only the faulty connection failed, each failure reported with its name; the others were never held up.
    failures = world.failures()
    assert {name for _, name, _ in failures} <= {flaky}, failures
    assert {reason for _, _, reason in failures} <= {"ServerError", "ErrorBudget", "Deferred"}, failures
    assert any(name == flaky for _, name, _ in failures), "the faulty connection's failures were not reported"
    assert world.late_stores(exempt) == [], "a chain refreshed outside its window"
    stores = world.stores()
    for name in names:
        expected = (minutes - 60 if name == late else minutes - 10) / 10 - 3
        assert len(stores[name]) >= expected, f"{name}: {len(stores[name])} generations, expected >= {expected}"
    # The connection added without a consent waited quietly, then joined.
    before = [o.get(late, {}).get("action") for t, _, o in world.invocations if t < world.consented[late] - 60]
    assert before
    assert set(before) == {"awaiting_consent"}
    for name, worker in world.workers:
        assert worker.calls > 0, f"worker {worker.index} ({name}) never called"
        assert worker.expired == 0, f"worker {worker.index} ({name}) was handed a token Exact refuses"
        assert worker.refused == 0, f"worker {worker.index} ({name}) got a 401"
        assert worker.unavailable == [], f"worker {worker.index} ({name}): TokenUnavailable"
    assert world.emu.control.counters().get("unauthorized", 0) == 0


def test_many_connections_on_one_stack_each_chain_on_its_own(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One refresher for many Exact connections: every chain refreshed inside its window, 0 breaks, 0 worker 401s;
    one connection's failures never delay another's refresh and carry its name (the full 100 x 24 h run is
    benchmarks/bench_connections.py)."""
    names = [f"conn-{i:03d}" for i in range(MANY)]
    with many_emulator(names) as emu:
        world = many_connections_scenario(emu, moto_url, monkeypatch, names, MANY_MINUTES, seed=17)
        check_many_connections(world, MANY_MINUTES)
