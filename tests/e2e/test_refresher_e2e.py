"""Issue 6 end to end, deterministic: the real refresher handler every simulated minute for 48 hours against the
emulator and the moto server, with worker threads calling Exact through the worker client in between.

One clock drives everything (emulator, handler, workers). Time moves only when the driver or a sleeper moves it,
so loopback latency cannot push a refresh past the token's expiry (what sank the earlier scaled-clock run).
Each simulated minute: the driver invokes the handler (which may wait inside the run, as in Lambda), then the
workers all call Exact at one instant of that minute (``OFFSETS``, alternating; barrier in, barrier out), then
time advances. (One instant a minute keeps 2880 steps within ~80 s: each moto call costs ~4 ms of real time.)

E2E_HOURS tunes the clean run's length (default 48).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from exact_online_sdk.auth.oauth import OAuthEndpoint
from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.aws.bootstrap import BootstrapFlow, state_key_from_client_secret
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from tests.unit.aws.fakes import AwsFaults

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-aws")]

ROOT = Path(__file__).resolve().parents[2]
HOURS = float(os.environ.get("E2E_HOURS", "48"))
OFFSETS = (0.0, 30.0)  # workers call right after the handler in even minutes, 30 s later in odd ones
REDIRECT = "https://localhost:8443/callback"


class StepClock(ManualClock):
    """A ManualClock whose ``sleep`` means "until now + s": concurrent sleepers do not add up their sleeps."""

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            target = self.now() + seconds
            with self._lock:
                self._now = max(self._now, target)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


class Ctx:
    function_name = "exact-token-refresher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-refresher"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 90_000


class Tap:
    """The handler's metrics, with the simulated time at which they were emitted."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.points: list[tuple[float, str, float, dict[str, str]]] = []
        self.lock = threading.Lock()

    def put(self, name: str, value: float, unit: str, dimensions: Any = None) -> None:
        with self.lock:
            self.points.append((self.clock.now(), name, value, dict(dimensions or {})))

    def count(self, name: str, **dims: str) -> float:
        return sum(v for _, n, v, d in self.points if n == name and all(d.get(k) == x for k, x in dims.items()))

    def reasons(self) -> list[str]:
        return [d[mn.DIMENSION_REASON] for _, n, _, d in self.points if n == mn.REFRESH_FAILURES]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def emulator() -> Iterator[Any]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(
        clock=StepClock(), minutely_limit=1_000_000, daily_limit=10**9, token_daily_limit=None, rows=5
    )
    with run_emulator(config) as emu:
        yield emu


def load_handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "lambdas" / "refresher" / "handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_writes(client: Any, clock: ManualClock, into: list[tuple[float, str]]) -> None:
    """Record every PutSecretValue that reached the service, at the simulated time it was made."""

    def after(model: Any, params: dict[str, Any], http_response: Any = None, **_: Any) -> None:
        if model.name == "PutSecretValue" and http_response is not None and http_response.status_code == 200:
            into.append((clock.now(), params["SecretId"]))

    pending: dict[int, dict[str, Any]] = {}

    def before(model: Any, params: dict[str, Any], **_: Any) -> None:
        pending[threading.get_ident()] = params

    client.meta.events.register("provide-client-params.secrets-manager.PutSecretValue", before)
    client.meta.events.register(
        "after-call.secrets-manager.PutSecretValue",
        lambda model, http_response, **kw: after(model, pending.get(threading.get_ident(), {}), http_response),
    )


class World:
    """The emulator, the secrets on the moto server, the handler and the workers, on one StepClock."""

    def __init__(self, emu: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch, prefix: str, workers: int) -> None:
        self.emu, self.clock = emu, emu.clock
        self.slots = (f"{prefix}/token-a", f"{prefix}/token-b")
        for key, value in {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "EXACT_TOKEN_SECRET_A": self.slots[0],
            "EXACT_TOKEN_SECRET_B": self.slots[1],
            "EXACT_RESCUE_SECRET": f"{prefix}/rescue",
            "EXACT_CLIENT_ID": emu.config.client_id,
            "EXACT_CLIENT_SECRET_ARN": f"{prefix}/client",
            "EXACT_BASE_URL": emu.base_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
        }.items():
            monkeypatch.setenv(key, value)
        self.sm = make_secretsmanager_client()
        for name in (*self.slots, f"{prefix}/rescue"):
            self.sm.create_secret(Name=name)
        self.sm.create_secret(
            Name=f"{prefix}/client",
            SecretString=f'{{"client_secret": "{emu.config.client_secret}", "redirect_uri": "{REDIRECT}"}}',
        )
        self.tap = Tap(self.clock)
        self.writes: list[tuple[float, str]] = []
        record_writes(self.sm, self.clock, self.writes)  # the bootstrap's writes
        self.handler = self.container(f"refresher_{prefix.replace('-', '_')}")
        self.results: list[dict[str, Any]] = []
        self.failures: list[tuple[float, str]] = []
        # workers
        self.n = workers
        self.go = threading.Barrier(workers + 1, timeout=60)
        self.done = threading.Barrier(workers + 1, timeout=60)
        self.stop = False
        self.worker_errors: list[tuple[float, str]] = []
        self.expired_seen = 0
        self.calls_ok = 0
        self.worker_faults: list[AwsFaults] = []
        self.lock = threading.Lock()

    def container(self, name: str) -> ModuleType:
        """A fresh Lambda container running the real handler module."""
        module = load_handler(name)
        module.configure(clock=self.clock, tap=self.tap)
        module._state["refresher"] = module.build_refresher()
        record_writes(module._state["refresher"].store.client, self.clock, self.writes)
        return module

    def bootstrap(self) -> dict[str, Any]:
        """The operator runs the cloud bootstrap: start, consent in a browser, complete."""
        cfg = self.emu.config
        store = SecretsManagerTokenStorage(slots=self.slots, client=self.sm, clock=self.clock, writer="bootstrap")
        with OAuthEndpoint(self.emu.base_url, cfg.client_id, cfg.client_secret, REDIRECT, clock=self.clock) as ep:
            flow = BootstrapFlow(store, ep, state_key=state_key_from_client_secret(cfg.client_secret), clock=self.clock)
            started = flow.handle({"action": "start"})
            location = httpx.get(started["authorization_url"], follow_redirects=False).headers["location"]
            assert urlsplit(location).path == "/callback"
            return flow.handle({"action": "complete", "callback_url": location})

    def invoke(self, module: ModuleType | None = None) -> None:
        try:
            result = (module or self.handler).handler({"source": "aws.scheduler"}, Ctx())
            with self.lock:
                self.results.append(result)
        except Exception as exc:
            with self.lock:
                self.failures.append((self.clock.now(), f"{type(exc).__name__}: {str(exc)[:120]}"))

    def worker(self) -> None:
        client = ExactOnlineClient.from_secrets_manager(base_url=self.emu.base_url, clock=self.clock)
        provider: Any = client._auth
        faults = AwsFaults()
        faults.attach(provider.store.client)
        with self.lock:
            self.worker_faults.append(faults)
        with client:
            while True:
                self.go.wait()
                if self.stop:
                    return
                try:
                    token = provider.token()
                    if token.expires_in(self.clock.now()) <= 0:
                        self.expired_seen += 1
                    client.get("current/Me")
                    with self.lock:
                        self.calls_ok += 1
                except Exception as exc:
                    with self.lock:
                        self.worker_errors.append((self.clock.now(), type(exc).__name__))
                finally:
                    self.done.wait()

    def run(self, minutes: int, on_minute: Callable[[int], None] | None = None) -> None:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.n)]
        for t in threads:
            t.start()
        origin = self.clock.now()
        try:
            for minute in range(1, minutes + 1):
                base = origin + 60 * minute
                self.clock.set(max(self.clock.now(), base))
                if on_minute is not None:
                    on_minute(minute)
                self.invoke()
                self.clock.set(max(self.clock.now(), base + OFFSETS[minute % len(OFFSETS)]))
                self.go.wait()
                self.done.wait()
        finally:
            self.stop = True
            self.go.wait()
            for t in threads:
                t.join(timeout=10)

    def write_times(self) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {slot: [] for slot in self.slots}
        for when, secret in self.writes:
            if secret in times:  # the rescue secret is written only on failures
                times[secret].append(when)
        return times


def assert_write_rate(world: World) -> None:
    for secret, times in world.write_times().items():
        gaps = [b - a for a, b in itertools.pairwise(sorted(times))]
        assert gaps, f"{secret} was never rewritten"
        assert min(gaps) >= 600, f"{secret} written twice within 10 minutes"
        assert (times[-1] - times[0]) / len(gaps) >= 600


def test_48h_clean_run(emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(emulator, moto_url, monkeypatch, "clean", workers=2)
    assert world.bootstrap()["generation"] == 1
    minutes = int(HOURS * 60)
    world.run(minutes)
    counters = emulator.control.counters()
    assert world.failures == []
    assert world.worker_errors == []
    assert world.expired_seen == 0
    assert world.calls_ok == minutes * world.n
    assert counters.get("unauthorized", 0) == 0  # no 401 ever reached a worker
    assert counters.get("rejected_refresh_tokens", 0) == 0  # zero broken chains
    assert counters.get("early_refreshes", 0) == 0
    refreshes = world.tap.count(mn.REFRESHES)
    assert refreshes == counters["refreshes"]
    assert refreshes >= minutes / 10 - 2  # a refresh every ~10 minutes, all along
    assert world.tap.reasons() == []
    assert_write_rate(world)
    assert len(world.writes) == refreshes + 1  # one write per refresh, plus the bootstrap's
    newest = SecretsManagerTokenStorage(slots=world.slots, client=world.sm).load(fresh=True)
    assert newest is not None
    assert newest.generation == refreshes + 1


def test_faults_are_survived_or_alarmed(emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(emulator, moto_url, monkeypatch, "faulty", workers=2)
    refresher_faults = AwsFaults()
    refresher_faults.attach(world.handler._state["refresher"].store.client)
    twin = world.container("refresher_twin")  # a second warm container: concurrent duplicate deliveries
    world.bootstrap()
    marks: dict[str, float] = {}

    def on_minute(minute: int) -> None:
        if minute == 30:  # a short 5xx burst at the token endpoint: retried inside the run
            emulator.control.inject("status", times=2, path="oauth2/token", status=503)
        if minute == 60:  # an outage of the token endpoint: runs fail (alarm); after it the same chain goes on
            emulator.control.inject("status", times=None, path="oauth2/token", status=503)
            marks["outage"] = world.clock.now()
        if minute == 72:
            emulator.control.clear_faults()
            marks["outage_end"] = world.clock.now()
        if minute == 90:  # Secrets Manager throttling on every side
            refresher_faults.fail("PutSecretValue", 2, "ThrottlingException")
            refresher_faults.fail("GetSecretValue", 1, "ThrottlingException")
            for faults in world.worker_faults:
                faults.fail("GetSecretValue", 2, "ThrottlingException")
        if minute % 7 == 0:
            world.invoke()  # a duplicate delivery of the same event, after the first
        if minute % 11 == 0:
            t = threading.Thread(target=world.invoke, args=(twin,))
            t.start()
            world.invoke()
            t.join()
        if minute == 150:  # Exact rotates the token, then the answer is lost: the chain cannot survive
            emulator.control.inject("token_drop", times=1)
            marks["drop"] = world.clock.now()
        if minute == 180:  # the operator re-consents through the bootstrap after the alarm
            marks["reconsent"] = world.clock.now()
            assert world.bootstrap()["action"] == "reconsented"

    world.run(300, on_minute)
    counters = emulator.control.counters()
    reasons = world.tap.reasons()
    # Alarmed: the outage (ServerError) and the lost answer (OutcomeUnknown + rescue record); nothing else.
    assert set(reasons) == {"ServerError", "OutcomeUnknown"}
    assert all(("ServerError" in f) or ("OutcomeUnknown" in f) for _, f in world.failures)
    assert world.tap.count(mn.RESCUE_WRITES) >= 1
    assert counters["fault_status"] >= 2 + 4  # the short burst, and at least one failed run in the outage
    assert counters["fault_token_drop"] == 1
    assert not any(refresher_faults.pending.values())  # every injected throttle was met...
    assert all(not any(f.pending.values()) for f in world.worker_faults)
    assert refresher_faults.calls["PutSecretValue"] >= 3  # ...and retried with the same request
    # The spent refresh token was never resent, and no run refreshed too early.
    assert counters.get("early_refreshes", 0) == 0
    superseded = sum(1 for r in world.results if r["action"] == "superseded")
    assert counters.get("rejected_refresh_tokens", 0) <= superseded
    # Workers: the only errors are inside the two windows that could not be survived, never a used expired token.
    windows = [(marks["outage"], marks["outage_end"] + 60), (marks["drop"], marks["reconsent"] + 60)]
    outside = [e for e in world.worker_errors if not any(a <= e[0] <= b for a, b in windows)]
    assert outside == []
    assert {kind for _, kind in world.worker_errors} <= {"TokenUnavailable"}
    assert world.expired_seen == 0
    assert counters.get("unauthorized", 0) == 0
    # The token survived everything survivable: after the re-consent the chain runs on and workers are served.
    late = [e for e in world.worker_errors if e[0] > marks["reconsent"] + 60]
    assert late == []
    assert any(r["action"] == "refreshed" and r["generation"] > 1 for r in world.results[-20:])
    assert_write_rate(world)
