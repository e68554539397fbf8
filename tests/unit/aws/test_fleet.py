"""Several Exact connections on one refresher: each chain refreshed on its own, one connection's failure never stops
another and is reported with its ``Connection``; workers pick a connection by name (moto, ManualClock)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from exact_online_sdk.aws import metrics_names as m
from exact_online_sdk.aws.connections import (
    connection_config,
    connection_configs,
    connection_secret_names,
    connection_settings,
)
from exact_online_sdk.aws.fleet import ConnectionsFailed, RefresherFleet, ThreadRunner
from exact_online_sdk.aws.refresher import RecordingMetrics, RefreshFailed, RefreshPolicy, TokenRefresher
from exact_online_sdk.aws.rescue import RescueStore
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.config import Settings
from exact_online_sdk.exceptions import ConfigError

from .fakes import AwsFaults, FakeExactTokens

PREFIX = "stack/"


def in_turn(tasks: Sequence[Callable[[], None]]) -> None:
    """A deterministic runner: the tasks one after the other (the ManualClock is not shared by threads)."""
    for task in tasks:
        task()


class Connection:
    """One connection's secrets on moto and its own Exact chain."""

    def __init__(self, name: str, sm: Any, clock: ManualClock) -> None:
        self.name, self.sm, self.clock = name, sm, clock
        self.config = connection_secret_names(PREFIX, name)
        for secret in (self.config.slot_a, self.config.slot_b, self.config.rescue):
            sm.create_secret(Name=secret)
        self.exact = FakeExactTokens(clock)

    def consent(self) -> None:
        SecretsManagerTokenStorage(slots=self.config.slots, client=self.sm, clock=self.clock, writable=True).save(
            self.exact.first_token(), expected_generation=None
        )

    def refresher(self, **kw: Any) -> TokenRefresher:
        store = SecretsManagerTokenStorage(slots=self.config.slots, client=self.sm, clock=self.clock, writable=True)
        rescue = RescueStore(self.config.rescue or "", client=self.sm, clock=self.clock)
        return TokenRefresher(store, self.exact.refresh, clock=self.clock, rescue=rescue, **kw)


@pytest.fixture
def trio(sm: Any, clock: ManualClock) -> dict[str, Connection]:
    return {name: Connection(name, sm, clock) for name in ("acme", "globex", "initech")}


def fleet_of(connections: dict[str, Connection], clock: ManualClock, **kw: Any) -> RefresherFleet:
    members = {name: c.refresher() for name, c in connections.items()}
    return RefresherFleet(members, clock=clock, metrics=RecordingMetrics(), runner=in_turn, **kw)


def points(fleet: RefresherFleet, name: str) -> list[tuple[float, dict[str, str]]]:
    assert isinstance(fleet.metrics, RecordingMetrics)
    return [(v, d) for n, v, _, d in fleet.metrics.points if n == name]


def test_each_due_chain_is_refreshed_in_the_same_invocation_and_the_gauges_are_folded(
    trio: dict[str, Connection], clock: ManualClock
) -> None:
    trio["acme"].consent()
    clock.advance(300)
    trio["globex"].consent()  # five minutes younger
    fleet = fleet_of(trio, clock)  # initech: no consent yet
    clock.advance(300)  # acme is due (600 s old), globex not (300 s)
    out = fleet.run()
    assert {n: o.action for n, o in out.outcomes.items()} == {
        "acme": "refreshed",
        "globex": "not_due",
        "initech": "awaiting_consent",
    }
    assert trio["acme"].exact.calls == 1
    assert trio["globex"].exact.calls == 0
    # The stack-wide view the alarms watch: the least validity among connections with a chain; no consent gate.
    stack_wide = {n: [v for v, d in points(fleet, n) if not d] for n in (m.TOKEN_SECONDS_LEFT, m.AWAITING_CONSENT)}
    assert stack_wide[m.TOKEN_SECONDS_LEFT] == [300.0]  # globex's 300 s, not initech's 0
    assert stack_wide[m.AWAITING_CONSENT] == [0.0]
    per = {d[m.DIMENSION_CONNECTION]: v for v, d in points(fleet, m.TOKEN_SECONDS_LEFT) if d}
    assert per == {"acme": 600.0, "globex": 300.0, "initech": 0.0}
    assert fleet.metrics.total(m.REFRESHES) == 1  # type: ignore[attr-defined]


def test_one_connection_failing_never_stops_the_others_and_is_reported_with_its_name(
    trio: dict[str, Connection], clock: ManualClock
) -> None:
    for c in trio.values():
        c.consent()
    trio["globex"].exact.faults.extend(["5xx"] * 20)  # Exact answers 5xx to globex's chain for the whole run
    fleet = fleet_of(trio, clock)
    clock.advance(600)
    with pytest.raises(ConnectionsFailed) as failed:
        fleet.run(deadline=clock.now() + 100)
    assert set(failed.value.failures) == {"globex"}
    assert failed.value.reason == "ServerError"
    assert {n: o.action for n, o in failed.value.outcome.outcomes.items()} == {
        "acme": "refreshed",
        "initech": "refreshed",
    }
    assert failed.value.outcome.summary()["globex"]["action"] == "failed: ServerError"
    failures = [d for v, d in points(fleet, m.REFRESH_FAILURES) if d.get(m.DIMENSION_CONNECTION)]
    assert failures == [{m.DIMENSION_REASON: "ServerError", m.DIMENSION_CONNECTION: "globex"}]
    # The alarmed view counts it too (without the Connection dimension).
    assert [d for v, d in points(fleet, m.REFRESH_FAILURES) if not d.get(m.DIMENSION_CONNECTION)] == [
        {m.DIMENSION_REASON: "ServerError"}
    ]


def test_a_single_connection_raises_its_own_failure_as_before(sm: Any, clock: ManualClock) -> None:
    only = {"default": Connection("default", sm, clock)}
    only["default"].consent()
    only["default"].exact.faults.extend(["5xx"] * 20)
    fleet = fleet_of(only, clock)
    clock.advance(600)
    with pytest.raises(RefreshFailed) as failed:
        fleet.run(deadline=clock.now() + 100)
    assert not isinstance(failed.value, ConnectionsFailed)
    assert failed.value.reason == "ServerError"
    # Exactly the metrics of before: no Connection dimension (no extra custom metrics on a one-connection stack).
    assert isinstance(fleet.metrics, RecordingMetrics)
    assert not [d for _, _, _, d in fleet.metrics.points if m.DIMENSION_CONNECTION in d]


def test_a_new_connection_without_credentials_waits_quietly_one_with_a_chain_fails_with_config(
    trio: dict[str, Connection], clock: ManualClock
) -> None:
    trio["acme"].consent()
    trio["globex"].consent()

    def no_credentials() -> TokenRefresher:
        raise ConfigError("the client-credentials secret holds no value", variable="EXACT_CLIENT_SECRET_ARN")

    members: dict[str, Any] = {"acme": trio["acme"].refresher(), "globex": no_credentials, "initech": no_credentials}
    has_chain = {"globex": lambda: True, "initech": lambda: False}
    fleet = RefresherFleet(members, clock=clock, metrics=RecordingMetrics(), runner=in_turn, has_chain=has_chain)
    with pytest.raises(ConnectionsFailed) as failed:
        fleet.run()
    assert {n: f.reason for n, f in failed.value.failures.items()} == {"globex": "Config"}
    assert failed.value.outcome.outcomes["initech"].action == "awaiting_consent"
    assert failed.value.outcome.outcomes["acme"].action == "not_due"
    assert fleet.refresher("globex") is None  # built again on the next run, once the secret is filled


def test_connections_run_at_the_same_time_so_one_waiting_never_delays_another() -> None:
    """A connection waiting in-run for its window must not hold up one that is due: the runner starts all tasks."""
    started = threading.Barrier(3, timeout=30)  # a safety net only: all three must be in flight together
    seen: list[str] = []

    def task(name: str) -> Callable[[], None]:
        def run() -> None:
            started.wait()
            seen.append(name)

        return run

    ThreadRunner()([task("a"), task("b"), task("c")])
    assert sorted(seen) == ["a", "b", "c"]


def test_an_idle_chain_is_answered_from_the_last_read_and_reread_within_the_recheck(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    """The deployed policy: a chain that is not due costs no Secrets Manager read for up to five minutes."""
    c = Connection("acme", sm, clock)
    c.consent()
    r = c.refresher(policy=RefreshPolicy(idle_recheck=300.0), metrics=RecordingMetrics())
    faults.calls.clear()
    assert r.run().action == "not_due"
    reads = faults.calls.get("GetSecretValue", 0)
    assert reads == 2  # both slots, once
    clock.advance(60)
    out = r.run()
    assert out.action == "not_due"
    assert out.seconds_left == 540.0
    assert faults.calls.get("GetSecretValue", 0) == reads  # no read
    clock.advance(250)  # 310 s after the read: the recheck is due
    assert r.run().action == "not_due"
    assert faults.calls.get("GetSecretValue", 0) == reads + 2
    clock.advance(290)  # 600 s old: due, read and refreshed whatever the recheck says
    assert r.run().action == "refreshed"


# -- configuration -------------------------------------------------------------------------------------------------


def test_single_connection_variables_are_the_connection_default() -> None:
    s = Settings(token_secret_a="A", token_secret_b="B", rescue_secret="R", client_secret_arn="C")
    [(name, config)] = connection_configs(s).items()
    assert name == "default"
    assert (config.slots, config.rescue, config.credentials) == (("A", "B"), "R", "C")


def test_connections_variable_names_secrets_by_the_rule_and_keeps_each_connection_s_options() -> None:
    s = Settings(
        token_secret_a="A",
        token_secret_b="B",
        connections=json.dumps({"default": {}, "acme": {}, "globex": {"base_url": "https://start.exactonline.be"}}),
        connection_prefix=PREFIX,
    )
    configs = connection_configs(s)
    assert list(configs) == ["default", "acme", "globex"]
    assert configs["acme"] == connection_secret_names(PREFIX, "acme")
    view = connection_settings(s, configs["globex"])
    assert view.base_url == "https://start.exactonline.be"
    assert (view.token_secret_a, view.rescue_secret) == (f"{PREFIX}globex/token-a", f"{PREFIX}globex/rescue")
    assert view.connections is None


def test_a_worker_picks_its_connection_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B", "EXACT_TOKEN_SECRET", "EXACT_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    slots_output = {"default": {"a": "arn:A", "b": "arn:B"}, "acme": {"a": f"{PREFIX}acme/token-a", "b": "x/b"}}
    monkeypatch.setenv("EXACT_CONNECTIONS", json.dumps(slots_output))
    monkeypatch.setenv("EXACT_CONNECTION", "acme")
    store = SecretsManagerTokenStorage.from_settings(Settings(), client=object())
    assert store.slot_ids == {"A": f"{PREFIX}acme/token-a", "B": "x/b"}
    monkeypatch.setenv("EXACT_CONNECTION", "default")
    assert connection_config(Settings()).slots == ("arn:A", "arn:B")
    monkeypatch.delenv("EXACT_CONNECTIONS")
    monkeypatch.setenv("EXACT_CONNECTION_PREFIX", PREFIX)
    monkeypatch.setenv("EXACT_CONNECTION", "globex")
    assert connection_config(Settings()).slots == (f"{PREFIX}globex/token-a", f"{PREFIX}globex/token-b")


def test_configuration_errors_name_the_variable_and_never_echo_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as unknown:
        connection_config(Settings(connections=json.dumps({"acme": {"a": "x", "b": "y"}})), "globex")
    assert unknown.value.variable == "EXACT_CONNECTION"
    assert "['acme']" in str(unknown.value)
    with pytest.raises(ConfigError, match="unknown keys"):
        connection_configs(Settings(connections=json.dumps({"acme": {"secret": "s3cr3t-value"}})))
    with pytest.raises(ConfigError, match="lower-case"):
        connection_configs(Settings(connections=json.dumps({"Acme!": {}}), connection_prefix=PREFIX))
    monkeypatch.setenv("EXACT_CONNECTIONS", "{not json s3cr3t")
    with pytest.raises(ConfigError) as bad_json:
        Settings()
    assert "EXACT_CONNECTIONS" in str(bad_json.value) or "connections" in str(bad_json.value)
    assert "s3cr3t" not in str(bad_json.value)


def test_a_fleet_run_with_a_failing_connection_leaks_no_token(
    trio: dict[str, Connection], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Canary: the fleet's own log lines, its failure and its summary name connections and reasons, never a token.
    caplog.set_level("DEBUG")
    for c in trio.values():
        c.consent()
    trio["globex"].exact.faults.extend(["5xx"] * 20)
    fleet = fleet_of(trio, clock)
    clock.advance(600)
    with pytest.raises(ConnectionsFailed) as failed:
        fleet.run(deadline=clock.now() + 100)
    # botocore's own DEBUG trace prints request parameters (a slot's SecretString): keep it off DEBUG (security.md).
    lines = [caplog.handler.format(r) for r in caplog.records if not r.name.startswith(("botocore", "urllib3"))]
    seen = "\n".join(
        [*lines, str(failed.value), repr(failed.value), json.dumps(failed.value.outcome.summary())]
        + [str(f) + repr(f) for f in failed.value.failures.values()]
    )
    assert "globex" in caplog.text  # the failure was logged, so the check below looked at a real line
    assert "SECRET" not in seen
