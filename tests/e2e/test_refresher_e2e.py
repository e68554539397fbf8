"""The token chain end to end under real faults, on a simulated clock: a proof that can fail (issue 12).

The real refresher handler (``lambdas/refresher/handler.py``, fresh module per Lambda container), the real bootstrap
flow, read-only workers and an operator's tool run against the emulator (Exact, over loopback HTTP) and a moto server
(Secrets Manager, DynamoDB, over loopback HTTP). Every actor is a thread on one :class:`SimClock`: exactly one actor
runs at a time and time jumps to the next wake-up, so a scenario of hours takes seconds and runs the same way every
time (seeded randomness, no wall-clock pacing).

What makes it honest:
- every Exact and AWS call takes simulated time (a latency model with slow tails); a reply slower than the client's
  timeout is lost (Exact may have rotated: the chain then needs the resend-once rule or a re-consent);
- the refresher and the workers run on AWS's clock, 45 s behind Exact's, and learn Exact's time from its answers;
- Lambda is modelled: each scheduled minute is one invocation, warm containers are reused, a busy one is not (so a
  slow run overlaps the next: twins), duplicate deliveries happen, and an invocation is killed at its timeout;
- workers call Exact at random instants, continuously, and each token they are handed is checked against Exact's
  own record (a token Exact would refuse is a 401, counted);
- the emulator's token quota (200 a day) and its error block are on; token-endpoint errors per hour are counted;
- faults: lost answers, slow 5xx bursts, a deadline squeeze, hard Secrets Manager failures longer than the
  retries, KMS errors on worker reads, a corrupt slot, an operator script over the slots, a re-consent landing
  during a refresh, twin invocations that race at Exact, a rotation whose answer is lost.
``tools/mutate_chain.py`` plants known bugs in the refresher one at a time and checks that this module fails.

E2E_HOURS sets the length of the long run (default 2 simulated hours: every fault of the list once; each further
2 hours repeat the variety with other random latencies and instants).
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
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from exact_online_sdk.auth import ExactOnlineAuth, TokenUnavailable
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
from exact_online_sdk.exceptions import AuthenticationError
from tests.support.modules import load_file_module
from tests.support.moto_server import moto_server
from tests.support.stack_resources import create_connection_secrets, create_coordination_table
from tests.unit.aws.fakes import AwsFaults

# Its own group: the module's moto server and emulator serve all its tests on one worker, and the multi-connection
# e2e (test_connections_e2e.py, a minute of its own) may run beside it on the other.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-refresher")]

ROOT = Path(__file__).resolve().parents[2]
HOURS = float(os.environ.get("E2E_HOURS", "2"))
REDIRECT = "https://localhost:8443/callback"
START = 1_767_225_600.0 + 3 * 3600  # 2026-01-01T03:00Z on Exact's clock
AWS_SKEW = -45.0  # AWS's clocks (Lambda, ECS) run 45 s behind Exact's
LAMBDA_TIMEOUT = 120.0
WRITE_RESERVE = 20.0 - 5.0  # the refresher's write reserve, less the handler's 5 s safety margin
FRESH_MARGIN = 15.0  # a worker wants more than min_validity (15 s) left: the next generation must be stored by then
REAL_TIMEOUT = 360.0  # real seconds a scenario may take before it counts as stalled (a loaded machine is slow)


# -- simulated time ---------------------------------------------------------------------------------------------


class Killed(BaseException):
    """Lambda ended the invocation at its timeout: nothing after this point happens."""


class Aborted(BaseException):
    """An actor failed: every other actor stops at its next sleep, so a failing scenario ends at once."""


@dataclass(eq=False)
class Actor:
    name: str
    kill_at: float | None = None
    killed: bool = False
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


class SimClock:
    """Discrete-event time for threads: one actor runs at a time; ``sleep`` yields and time jumps to the next
    wake-up (ties in the order of the sleeps). Other threads (the emulator's and moto's servers) may read ``now``
    but never sleep on it. Each actor waits on its own semaphore, so a switch wakes exactly one thread."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._ready: list[tuple[float, int, Actor]] = []
        self._seq = itertools.count()
        self._by_thread: dict[int, Actor] = {}
        self._live = 0
        self._running: Actor | None = None
        self._done = threading.Event()
        self._aborted = False
        self.errors: list[tuple[str, BaseException]] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        actor = self._by_thread.get(threading.get_ident())
        if actor is None:
            raise RuntimeError("only actors sleep on the simulated clock")
        with self._lock:
            heapq.heappush(self._ready, (self._now + max(0.0, seconds), next(self._seq), actor))
            following = self._pop()
        if following is not actor:
            assert following is not None
            following.go.release()
            actor.go.acquire()
        if self._aborted:
            raise Aborted(actor.name)
        if actor.kill_at is not None and self._now >= actor.kill_at:
            actor.killed = True
            raise Killed(actor.name)

    async def asleep(self, seconds: float) -> None:  # pragma: no cover - the scenarios are blocking code
        raise NotImplementedError

    def _pop(self) -> Actor | None:
        """The next actor to run (time moves to its wake-up); None when nothing is runnable. Lock held."""
        if not self._ready:
            self._running = None
            return None
        at, _, actor = heapq.heappop(self._ready)
        self._now = max(self._now, at)
        self._running = actor
        return actor

    def spawn(self, name: str, fn: Callable[[], None], *, kill_at: float | None = None) -> Actor:
        """Start ``fn`` as an actor, runnable now (after the caller yields)."""
        actor = Actor(name, kill_at)

        def body() -> None:
            self._by_thread[threading.get_ident()] = actor
            actor.go.acquire()
            try:
                fn()
            except Killed:
                actor.killed = True
            except Aborted:
                pass
            except BaseException as exc:  # reported by run()
                self.errors.append((name, exc))
                self._aborted = True
            finally:
                self._by_thread.pop(threading.get_ident(), None)
                with self._lock:
                    self._live -= 1
                    following = self._pop()
                    if following is None and self._live == 0:
                        self._done.set()
                if following is not None:
                    following.go.release()

        with self._lock:
            self._live += 1
            self._done.clear()
            heapq.heappush(self._ready, (self._now, next(self._seq), actor))
        threading.Thread(target=body, name=name, daemon=True).start()
        return actor

    def run(self, name: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` (and every actor it spawns) to completion; raise what an actor raised."""
        self.spawn(name, fn)
        with self._lock:
            first = self._pop()
        assert first is not None
        first.go.release()
        if not self._done.wait(timeout=REAL_TIMEOUT):
            running = self._running.name if self._running else None
            raise AssertionError(f"the simulation stalled: {self._live} actors left, {running!r} running")
        if self.errors:
            name, exc = self.errors[0]
            raise AssertionError(f"actor {name} failed: {type(exc).__name__}: {exc}") from exc


class AwsClock:
    """An AWS host's clock: ``skew`` seconds off Exact's; sleeping is sleeping on the simulation."""

    def __init__(self, sim: SimClock, skew: float = AWS_SKEW) -> None:
        self.sim, self.skew = sim, skew
        self.sleeps = 0

    def now(self) -> float:
        return self.sim.now() + self.skew

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.sim.sleep(seconds)

    async def asleep(self, seconds: float) -> None:  # pragma: no cover
        raise NotImplementedError


@dataclass
class Latency:
    """Seconds a call takes each way: mostly ``base``, with probability ``tail_p`` a slow tail."""

    rng: random.Random
    base: tuple[float, float]
    tail: tuple[float, float]
    tail_p: float

    def one_way(self) -> float:
        low, high = self.tail if self.rng.random() < self.tail_p else self.base
        return self.rng.uniform(low, high) / 2


def exact_latency(rng: random.Random) -> Latency:
    return Latency(rng, base=(0.08, 0.6), tail=(1.0, 4.0), tail_p=0.03)


def aws_latency(rng: random.Random) -> Latency:
    return Latency(rng, base=(0.01, 0.08), tail=(0.3, 2.0), tail_p=0.02)


# -- the wires ------------------------------------------------------------------------------------------------------


class TokenFaults:
    """Faults of Exact's token endpoint, taken by the next token calls in order:

    - ``lost_before``: the request is lost before Exact read it (a reset): the client waits out its timeout;
    - ``lost_after``: Exact rotates, the answer is lost (the client waits out its timeout);
    - ``slow5xx:<s>``: a 503 after ``s`` seconds (Exact did nothing).

    ``sticky`` faults all go to the container that takes the first of them (one run meets the whole burst).
    """

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.sticky: list[str] = []
        self.sticky_owner: object | None = None
        self.taken: list[tuple[float, str]] = []
        self.on_next_call: Callable[[], None] | None = None

    def take(self, now: float, link: object) -> str | None:
        if self.on_next_call is not None:
            callback, self.on_next_call = self.on_next_call, None
            callback()
        if self.sticky and self.sticky_owner in (None, link):
            self.sticky_owner = link
            fault = self.sticky.pop(0)
            if not self.sticky:
                self.sticky_owner = None
        elif self.queue:
            fault = self.queue.pop(0)
        else:
            return None
        self.taken.append((now, fault))
        return fault


class ExactLink(httpx.BaseTransport):
    """Loopback HTTP to the emulator with simulated latency; a reply slower than the read timeout is lost."""

    def __init__(self, sim: SimClock, latency: Latency, faults: TokenFaults | None = None) -> None:
        self.sim, self.latency, self.faults = sim, latency, faults
        self.inner = httpx.HTTPTransport()
        self.token_calls = 0
        self.deadline: float | None = None  # the running invocation's end (Exact's clock), for refresher links
        self.late_calls: list[tuple[float, float]] = []  # (start, seconds left) of calls that did not fit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = float((request.extensions.get("timeout") or {}).get("read") or 30.0)
        is_token = request.url.path.endswith("/oauth2/token")
        fault = None
        if is_token:
            self.token_calls += 1
            left = None if self.deadline is None else self.deadline - self.sim.now()
            if left is not None and left < timeout + WRITE_RESERVE:
                # The contract: a call starts only when its whole timeout and the write fit the invocation.
                self.late_calls.append((self.sim.now(), round(left, 1)))
            fault = self.faults.take(self.sim.now(), self) if self.faults is not None else None
        up, down = self.latency.one_way(), self.latency.one_way()
        self.sim.sleep(up)
        if fault == "lost_before":
            self.sim.sleep(timeout - up)
            raise httpx.ReadTimeout("simulated: the request was lost", request=request)
        if fault is not None and fault.startswith("slow5xx:"):
            self.sim.sleep(min(float(fault.split(":")[1]), timeout) - up)
            return httpx.Response(503, json={"error": "temporarily_unavailable"}, request=request)
        response = self.inner.handle_request(request)
        body = response.read()
        response.close()
        if fault == "lost_after" or up + down > timeout:
            self.sim.sleep(max(0.0, timeout - up))
            raise httpx.ReadTimeout("simulated: the answer was lost", request=request)
        self.sim.sleep(down)
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def close(self) -> None:
        self.inner.close()


def wire_aws(client: Any, sim: SimClock, latency: Latency, faults: AwsFaults | None = None) -> Any:
    """AWS calls of ``client`` take simulated time; ``faults`` (shared: an AWS-wide outage) answer some."""
    if faults is not None:
        faults.attach(client)

    def before(**_: Any) -> None:
        sim.sleep(latency.one_way())

    def after(**_: Any) -> None:
        sim.sleep(latency.one_way())

    client.meta.events.register_first("before-call.*.*", before)
    client.meta.events.register_first("after-call.*.*", after)
    return client


# -- the world ------------------------------------------------------------------------------------------------------


class Tap:
    """The refresher's metrics, stamped with Exact's time."""

    def __init__(self, sim: SimClock) -> None:
        self.sim = sim
        self.points: list[tuple[float, str, float, dict[str, str]]] = []

    def put(self, name: str, value: float, unit: str, dimensions: Any = None) -> None:
        self.points.append((self.sim.now(), name, value, dict(dimensions or {})))

    def values(self, name: str) -> list[float]:
        return [v for _, n, v, _ in self.points if n == name]

    def count(self, name: str) -> float:
        return sum(self.values(name))

    def reasons(self) -> list[str]:
        return [d[mn.DIMENSION_REASON] for _, n, _, d in self.points if n == mn.REFRESH_FAILURES]


class Ctx:
    """The Lambda context of one invocation; its remaining time reads the container's (AWS) clock."""

    function_name = "exact-token-refresher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-refresher"

    def __init__(self, clock: AwsClock, timeout: float = LAMBDA_TIMEOUT) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.clock = clock
        self.deadline = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()) * 1000))


@dataclass
class Worker:
    index: int
    client: ExactOnlineClient
    provider: SecretsManagerTokenProvider
    clock: AwsClock
    calls: int = 0
    expired: int = 0
    refused: int = 0
    unavailable: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)


@dataclass
class Write:
    """A token state that reached a slot (from the PutSecretValue request), at Exact's time."""

    at: float
    slot: str
    token: Token


class World:
    """The emulator, the secrets (and optionally the coordination table) on the moto server, the refresher's Lambda
    containers, workers and operators, all on one :class:`SimClock`."""

    def __init__(
        self, emu: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch, *, seed: int, table: bool = False
    ) -> None:
        self.emu, self.sim = emu, emu.clock
        self.rng = random.Random(seed)
        prefix = f"e2e{seed}-{uuid.uuid4().hex[:6]}"
        self.slots = (f"{prefix}/token-a", f"{prefix}/token-b")
        env = {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "EXACT_TOKEN_SECRET_A": self.slots[0],
            "EXACT_TOKEN_SECRET_B": self.slots[1],
            "EXACT_RESCUE_SECRET": f"{prefix}/rescue",
            "EXACT_CLIENT_ID": emu.config.client_id,
            "EXACT_CLIENT_SECRET_ARN": f"{prefix}/client",
            "EXACT_BASE_URL": emu.base_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
            "POWERTOOLS_METRICS_DISABLED": "true",  # the tap records them; no EMF on stdout
        }
        for name in list(os.environ):
            if name.startswith("EXACT_"):
                monkeypatch.delenv(name)
        if table:
            env["EXACT_COORDINATION_TABLE"] = f"{prefix}-coordination"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        self.sm = make_secretsmanager_client()  # the harness's own client: no latency, no faults
        create_connection_secrets(
            self.sm,
            slots=(self.slots[0], self.slots[1]),
            rescue=f"{prefix}/rescue",
            client=f"{prefix}/client",
            client_secret=emu.config.client_secret,
            redirect_uri=REDIRECT,
        )
        if table:
            create_coordination_table(make_client("dynamodb"), env["EXACT_COORDINATION_TABLE"])
        self.tap = Tap(self.sim)
        self.token_faults = TokenFaults()
        self.aws_faults = AwsFaults()  # shared by every refresher container: an AWS-wide fault
        self.worker_faults = AwsFaults()
        self.idle: list[ModuleType] = []
        self.containers = 0
        self.invocations: list[tuple[float, str, str]] = []  # (time, outcome or failure reason, container)
        self.links: list[ExactLink] = []
        self.kills: list[float] = []
        self.writes: list[Write] = []
        self.workers: list[Worker] = []
        self.consents: list[dict[str, Any]] = []
        self.operator_token_calls = 0

    # -- Lambda -----------------------------------------------------------------------------------------------------
    def _container(self) -> ModuleType:
        if self.idle:
            return self.idle.pop()
        self.containers += 1
        name = f"refresher_e2e_{self.containers}_{uuid.uuid4().hex[:6]}"
        module = load_file_module(ROOT / "lambdas" / "refresher" / "handler.py", name)
        clock = AwsClock(self.sim)
        link = ExactLink(self.sim, exact_latency(self.rng), self.token_faults)
        self.links.append(link)
        module.configure(clock=clock, tap=self.tap, http_client=httpx.Client(transport=link))
        fleet = module.build_fleet()
        fleet.prepare()  # read the app credentials before the AWS clients get latency and faults (a cold start)
        # Every connection's refresher shares the fleet's clients: the latency and faults reach all of them.
        wire_aws(fleet.secrets_client, self.sim, aws_latency(self.rng), self.aws_faults)
        self._record_writes(fleet.secrets_client)
        if fleet.dynamodb_client is not None:
            wire_aws(fleet.dynamodb_client, self.sim, aws_latency(self.rng))
        module._state["fleet"] = fleet
        module._state["refresher"] = fleet.refresher(fleet.connections[0])  # read-only view, as before the fleet
        module._state["aws_clock"] = clock
        module._state["link"] = link
        return module

    def _record_writes(self, client: Any) -> None:
        slot_of = {secret: label for label, secret in zip("AB", self.slots, strict=True)}

        def after(model: Any, params: Any = None, http_response: Any = None, context: Any = None, **_: Any) -> None:
            sent = (context or {}).get("e2e_params", {})
            if http_response is not None and http_response.status_code == 200 and sent.get("SecretId") in slot_of:
                token = Token.from_state(json.loads(sent["SecretString"]))
                self.writes.append(Write(self.sim.now(), slot_of[sent["SecretId"]], token))

        def before(params: Any, context: Any, **_: Any) -> None:
            context["e2e_params"] = dict(params)

        client.meta.events.register("before-parameter-build.secrets-manager.PutSecretValue", before)
        client.meta.events.register("after-call.secrets-manager.PutSecretValue", after)

    def invoke(self) -> None:
        """One delivery of the scheduled event, in a warm idle container or a new one."""
        module = self._container()
        clock: AwsClock = module._state["aws_clock"]
        ctx = Ctx(clock)
        module._state["link"].deadline = ctx.deadline - AWS_SKEW  # Exact's clock

        def run() -> None:
            try:
                result = module.handler({"source": "aws.scheduler"}, ctx)
                self.invocations.append((self.sim.now(), result["action"], module.__name__))
                self.idle.append(module)
            except Killed:
                self.kills.append(self.sim.now())  # the sandbox is gone; the next delivery starts cold
            except Exception as exc:
                self.invocations.append((self.sim.now(), getattr(exc, "reason", type(exc).__name__), module.__name__))
                self.idle.append(module)

        # Lambda kills the invocation at its timeout (the AWS clock's deadline, on Exact's clock).
        self.sim.spawn(f"invoke-{module.__name__}", run, kill_at=ctx.deadline - AWS_SKEW)

    # -- people and workers ---------------------------------------------------------------------------------------
    def consent(self) -> dict[str, Any]:
        """The operator runs the cloud bootstrap: start, consent in a browser, complete (an actor's call)."""
        cfg = self.emu.config
        clock = ServerClock(AwsClock(self.sim))
        sm = wire_aws(make_secretsmanager_client(), self.sim, aws_latency(self.rng))
        self._record_writes(sm)
        store = SecretsManagerTokenStorage(
            slots=self.slots, client=sm, clock=clock.local, writer="bootstrap", writable=True
        )
        http = httpx.Client(transport=ExactLink(self.sim, exact_latency(self.rng)))
        endpoint = OAuthEndpoint(
            self.emu.base_url, cfg.client_id, cfg.client_secret, REDIRECT, http_client=http, clock=clock
        )
        flow = BootstrapFlow(store, endpoint, state_key=state_key_from_client_secret(cfg.client_secret), clock=clock)
        started = flow.handle({"action": "start"})
        location = httpx.get(started["authorization_url"], follow_redirects=False).headers["location"]
        return flow.handle({"action": "complete", "callback_url": location})

    def operator_script(self) -> None:
        """``scripts/fetch_accounts.py`` as an operator runs it: settings from the environment, the slots."""
        clock = AwsClock(self.sim)
        link = ExactLink(self.sim, exact_latency(self.rng))
        auth = ExactOnlineAuth(Settings(), clock=clock, http_client=httpx.Client(transport=link))
        assert auth.read_only
        wire_aws(auth.storage.client, self.sim, aws_latency(self.rng))  # type: ignore[attr-defined]
        with ExactOnlineClient(auth=auth, base_url=self.emu.base_url, clock=clock, transport=link) as client:
            client.get("current/Me")
        self.operator_token_calls += link.token_calls

    def add_workers(self, n: int) -> None:
        for i in range(n):
            clock = AwsClock(self.sim)
            sm = wire_aws(make_secretsmanager_client(), self.sim, aws_latency(self.rng), self.worker_faults)
            store = SecretsManagerTokenStorage(slots=self.slots, client=sm, clock=clock)
            # cache_ttl 120 s keeps the moto traffic low; near expiry the source re-reads whatever the TTL.
            provider = SecretsManagerTokenProvider(store, clock=clock, cache_ttl=120.0)
            client = ExactOnlineClient(
                auth=provider,
                base_url=self.emu.base_url,
                clock=clock,
                transport=ExactLink(self.sim, exact_latency(self.rng)),
            )
            self.workers.append(Worker(i, client, provider, clock))

    def work(self, worker: Worker, until: float, gap: tuple[float, float]) -> None:
        rng = random.Random(self.rng.random())
        while True:
            self.sim.sleep(rng.uniform(*gap))
            if self.sim.now() >= until:
                return
            started, sleeps = self.sim.now(), worker.clock.sleeps
            try:
                token = worker.provider.token()
            except TokenUnavailable:
                worker.unavailable.append(self.sim.now())
                continue
            worker.calls += 1
            if worker.clock.sleeps > sleeps:
                worker.waits.append(self.sim.now() - started)
            if token.expires_at <= self.sim.now() or self.emu.state.oauth.grant_for(token.access_token) is None:
                worker.expired += 1  # Exact's own record: this token would be refused
            try:
                worker.client.get("current/Me")
            except AuthenticationError:
                worker.refused += 1

    # -- the run ------------------------------------------------------------------------------------------------------
    def run(
        self,
        minutes: int,
        *,
        consent_at: int = 0,
        workers: int = 3,
        worker_gap: tuple[float, float] = (4.0, 50.0),
        on_minute: Callable[[int], None] | None = None,
        twins: Callable[[int], bool] = lambda minute: False,
        check: Callable[[], None] | None = None,
    ) -> None:
        origin = self.sim.now()
        end = origin + 60 * minutes + 30
        self.add_workers(workers)

        def first_consent() -> None:
            self.consents.append(self.consent())
            for worker in self.workers:
                self.sim.spawn(f"worker-{worker.index}", lambda w=worker: self.work(w, end, worker_gap))

        def cron() -> None:
            if consent_at == 0:
                first_consent()
            for minute in range(1, minutes + 1):
                self.sim.sleep(origin + 60 * minute - self.sim.now())
                if check is not None:
                    check()  # an invariant broken: fail now, with the evidence so far
                if minute == consent_at:
                    self.sim.spawn("bootstrap", first_consent)
                if on_minute is not None:
                    on_minute(minute)
                self.invoke()
                if twins(minute):
                    self.invoke()  # a duplicate delivery at the same instant: a twin in another container

        self.sim.run("cron", cron)

    # -- evidence -----------------------------------------------------------------------------------------------------
    def token_log(self) -> list[dict[str, Any]]:
        return [r for r in self.emu.control.requests() if r.get("path") == "/api/oauth2/token"]

    def late_stores(self, exempt: Callable[[float, float], bool]) -> list[tuple[int, float]]:
        """(generation, seconds left on the previous one) for every store of the chain with less than
        FRESH_MARGIN left, unless ``exempt(previous issue, store time)`` (a cycle with an injected fault)."""
        late = []
        by_generation: dict[tuple[str, int], Write] = {}
        for write in self.writes:
            by_generation.setdefault((write.token.chain_id, write.token.generation), write)
        for (chain, generation), write in sorted(by_generation.items(), key=lambda kv: kv[1].at):
            previous = by_generation.get((chain, generation - 1))
            if previous is None:
                continue
            left = previous.token.expires_at - write.at
            if left < FRESH_MARGIN and not exempt(previous.token.issued_at, write.at):
                late.append((generation, round(left, 1)))
        return late

    def timeline(self) -> str:
        """What happened, in order (for a failure's message): invocations, token calls, failures, faults."""
        events = [(t, f"run {what} ({container[-6:]})") for t, what, container in self.invocations]
        events += [(r["time"], f"token {r.get('grant_type')} -> {r['status']}") for r in self.token_log()]
        events += [
            (t, f"failure {d.get(mn.DIMENSION_REASON)}") for t, n, _, d in self.tap.points if n == mn.REFRESH_FAILURES
        ]
        events += [(t, f"fault {what}") for t, what in self.token_faults.taken]
        events += [
            (w.at, f"stored gen {w.token.generation} chain {w.token.chain_id[:4]} slot {w.slot}") for w in self.writes
        ]
        events += [(t, "KILLED") for t in self.kills]
        return "\n".join(f"{(t - START) / 60:8.2f} min  {what}" for t, what in sorted(events))

    def late_calls(self) -> list[tuple[float, float]]:
        """Token calls a refresher started without its whole timeout and the write reserve left."""
        return sorted(c for link in self.links for c in link.late_calls)

    def errors_per_hour(self) -> int:
        times = sorted(r["time"] for r in self.token_log() if r["status"] >= 400)
        return max((sum(1 for t in times if s <= t < s + 3600) for s in times), default=0)


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    # The shared test server: one request at a time inside moto, so racing lease writes behave as on AWS.
    with moto_server() as server:
        yield server.url


@pytest.fixture
def emulator() -> Iterator[Any]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(
        clock=SimClock(START),
        minutely_limit=1_000_000,
        daily_limit=10**9,
        token_daily_limit=200,  # Exact's quota: on
        error_quota=10,  # Exact's error block: on
        rows=5,
        redirect_uris=(REDIRECT,),
    )
    with run_emulator(config) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="exact_online_sdk")


def in_fault_cycle(world: World) -> Callable[[float, float], bool]:
    """True for a refresh cycle in which a token fault was taken or the refresher failed, resent or deferred."""

    def exempt(issued: float, stored: float) -> bool:
        if any(issued <= t <= stored for t, _ in world.token_faults.taken):
            return True
        troubled = (mn.REFRESH_FAILURES, mn.LOST_ANSWER_RESENDS)
        if any(issued <= t <= stored for t, n, _, _ in world.tap.points if n in troubled):
            return True
        return any(issued <= t <= stored and what in ("deferred", "busy") for t, what, _ in world.invocations)

    return exempt


def assert_workers_served(world: World) -> None:
    for worker in world.workers:
        assert worker.expired == 0, f"worker {worker.index} was handed {worker.expired} token(s) Exact refuses"
        assert worker.refused == 0, f"worker {worker.index} got {worker.refused} 401(s)"
        assert worker.unavailable == [], f"worker {worker.index}: TokenUnavailable at {worker.unavailable}"
        assert worker.calls > 0
    assert world.emu.control.counters().get("unauthorized", 0) == 0


# -- scenarios -----------------------------------------------------------------------------------------------------


def test_the_chain_holds_for_hours_under_survivable_faults(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The long run: 0 chain breaks, 0 worker 401s, 0 expired tokens handed out, with the faults on."""
    world = World(emulator, moto_url, monkeypatch, seed=1)
    minutes = int(HOURS * 60)
    marks: dict[str, float] = {}
    squeeze = {"armed": False}

    def faults(minute: int) -> None:
        phase = minute % 120  # every two hours the same variety again
        if phase == 15:
            world.token_faults.queue.append("lost_before")  # a reset: resent in the same invocation
        if phase == 35:
            world.token_faults.queue.extend(["slow5xx:8", "slow5xx:6"])  # a slow 5xx burst: retried in-run
        if phase == 50:
            world.aws_faults.fail("PutSecretValue", 8, "InternalServiceError", status=500)  # longer than retries
        if phase == 55:
            world.aws_faults.fail("GetSecretValue", 2, "ThrottlingException")
            world.worker_faults.fail("GetSecretValue", 9, "KMSInternalException", status=500)
        if phase == 70:
            older = min(world.writes[-2:], key=lambda w: w.token.generation).slot
            world.sm.put_secret_value(SecretId=world.slots["AB".index(older)], SecretString="{damaged")
            marks.setdefault("corrupt", world.sim.now())
        if phase == 40:
            squeeze["armed"] = True
        if squeeze["armed"] and world.writes and 40 <= minute % 120 < 100:
            # A deadline squeeze: a run that waits 38-58 s in-run for the window, then meets slow 5xx answers. It
            # must stop calling while a call and the write still fit, and end before Lambda kills it at 120 s.
            due = world.writes[-1].token.issued_at + 573 - world.sim.now()
            if 38 <= due <= 58:
                world.token_faults.sticky.extend(["slow5xx:14.9"] * 4)
                squeeze["armed"] = False
                squeeze["applied"] = squeeze.get("applied", 0) + 1
        if phase == 100:
            world.sim.spawn("operator", world.operator_script)
        if phase == 110:
            # A re-consent that lands while a refresh is in flight (between its request and its write).
            world.token_faults.on_next_call = lambda: world.consents.append(world.consent())

    def invariants() -> None:
        assert world.kills == [], f"Lambda killed invocations at {world.kills}:\n{world.timeline()}"
        assert world.late_calls() == [], f"token calls that did not fit the invocation:\n{world.timeline()}"
        assert max(world.tap.values(mn.CHAIN_BROKEN), default=0) == 0, "the chain broke:\n" + world.timeline()
        for worker in world.workers:
            assert worker.unavailable == [], f"worker {worker.index}: TokenUnavailable:\n{world.timeline()}"
            assert worker.expired == worker.refused == 0, f"worker {worker.index}: a dead token:\n{world.timeline()}"

    # Twins: a duplicate delivery at the same instant in every minute of two windows (true races at Exact).
    world.run(minutes, on_minute=faults, twins=lambda minute: 20 <= minute % 120 <= 32, check=invariants)

    counters = emulator.control.counters()
    reasons = world.tap.reasons()
    assert world.kills == [], f"Lambda killed invocations at {world.kills}"
    assert squeeze.get("applied", 0) >= 1, "the deadline squeeze never met a run that waits long: change the seed"
    assert world.late_calls() == [], "token calls that did not fit the invocation:\n" + world.timeline()
    assert max(world.tap.values(mn.CHAIN_BROKEN), default=0) == 0, "the chain broke:\n" + world.timeline()
    assert counters.get("early_refreshes", 0) == 0
    assert set(reasons) <= {"ServerError", "StoreFailed", "OutcomeUnknown"}, reasons
    superseded = sum(1 for _, what, _ in world.invocations if what == "superseded")
    assert counters.get("rejected_refresh_tokens", 0) <= superseded  # only twins' lost races, each reported
    assert world.operator_token_calls == 0
    assert_workers_served(world)
    assert world.errors_per_hour() <= 8  # Exact blocks the app after 10 an hour
    assert world.late_stores(in_fault_cycle(world)) == []
    assert world.tap.count(mn.LOST_ANSWER_RESENDS) >= 1
    assert world.tap.count(mn.RESCUE_WRITES) >= 1
    assert max(world.tap.values(mn.CORRUPT_SLOTS)) >= 1
    assert world.tap.values(mn.CORRUPT_SLOTS)[-1] == 0  # the damaged slot was rewritten
    assert not any(world.aws_faults.pending.values())
    assert max(world.tap.values(mn.TOKEN_CALLS_TODAY)) < 190
    assert [c["action"] for c in world.consents][1:] == ["reconsented"] * (len(world.consents) - 1)
    assert len(world.consents) == 1 + minutes // 120 + (1 if minutes % 120 > 110 else 0)
    assert sum(1 for _, what, _ in world.invocations if what == "refreshed") >= minutes / 10 - 6


def test_lost_answers_are_resent_exactly_once_then_alarmed_until_a_reconsent(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two episodes that no refresher can survive alone: (1) Exact rotates and the answer is lost: the one
    resend gets "Old refresh token used"; (2) the answer is lost and so is its one resend. Each time: exactly two
    token calls, one alarm, no further call for that generation (quotas kept), and after the operator's
    re-consent the chain runs on."""
    world = World(emulator, moto_url, monkeypatch, seed=2)
    marks: dict[str, float] = {}

    def faults(minute: int) -> None:
        if minute == 12:
            world.token_faults.queue.append("lost_after")
            marks["lost"] = world.sim.now()
        if minute == 25:
            marks["reconsent"] = world.sim.now()
            world.sim.spawn("operator", lambda: world.consents.append(world.consent()))
        if minute == 40:
            world.token_faults.queue.extend(["lost_before", "lost_before"])
            marks["lost2"] = world.sim.now()
        if minute == 52:
            marks["reconsent2"] = world.sim.now()
            world.sim.spawn("operator", lambda: world.consents.append(world.consent()))

    world.run(70, on_minute=faults, workers=1, worker_gap=(5.0, 45.0))
    log = [r for r in world.token_log() if r.get("grant_type") == "refresh_token"]
    first = [r["status"] for r in log if marks["lost"] <= r["time"] < marks["reconsent"]]
    second = [r["status"] for r in log if marks["lost2"] <= r["time"] < marks["reconsent2"]]
    assert first == [200, 401], world.timeline()  # the lost rotation, then one resend refused as used
    assert second == [], world.timeline()  # both lost before Exact read them: Exact saw nothing
    assert [t for t, what in world.token_faults.taken if what == "lost_before"] != []
    sent = sum(1 for t, what in world.token_faults.taken if marks["lost2"] <= t < marks["reconsent2"])
    assert sent == 2, world.timeline()  # sent, resent once, and never a third time
    assert world.tap.reasons() == ["RefreshTokenReused", "OutcomeUnknown"]  # one alarm each
    assert world.tap.count(mn.LOST_ANSWER_RESENDS) == 2
    broken = [(t, v) for t, n, v, _ in world.tap.points if n == mn.CHAIN_BROKEN]
    refused_at = next(r["time"] for r in log if r["status"] == 401)
    assert {v for t, v in broken if refused_at < t < marks["reconsent"]} == {1.0}  # alarmed until the re-consent
    assert broken[-1][1] == 0  # the re-consent ended it
    assert world.kills == []
    assert world.late_calls() == []
    assert emulator.control.counters().get("unauthorized", 0) == 0
    windows = [(marks["lost"], marks["reconsent"] + 60), (marks["lost2"], marks["reconsent2"] + 60)]
    for worker in world.workers:
        assert worker.expired == 0
        assert worker.refused == 0
        assert all(any(a <= t <= b for a, b in windows) for t in worker.unavailable)
    after = [r for r in log if r["time"] > marks["reconsent2"] + 60]
    assert after
    assert all(r["status"] == 200 for r in after)
    assert world.errors_per_hour() <= 8


def test_the_lease_keeps_twin_invocations_away_from_exact(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the coordination table, twins never call Exact at once; before the first consent the runs are quiet."""
    world = World(emulator, moto_url, monkeypatch, seed=3, table=True)
    world.run(40, consent_at=5, workers=1, twins=lambda minute: True)
    counters = emulator.control.counters()
    assert counters.get("rejected_refresh_tokens", 0) == 0  # no twin ever raced at Exact
    assert world.kills == []
    assert world.late_calls() == []
    early = [v for t, n, v, _ in world.tap.points if n == mn.AWAITING_CONSENT and t < START + 5 * 60]
    assert early
    assert set(early) == {1.0}
    assert world.tap.values(mn.AWAITING_CONSENT)[-1] == 0
    assert world.tap.reasons() == []
    assert any(what == "busy" for _, what, _ in world.invocations)
    assert counters["refreshes"] >= 3
    assert_workers_served(world)
