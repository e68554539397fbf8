"""examples/prefect_flow.py reads its connections from the environment as the refresher does (EXACT_CONNECTIONS,
EXACT_CONNECTION_PREFIX, the single-connection slots) and syncs every (connection, division, endpoint) with that
connection's own token slots and app id: checked on the emulator and a moto server, without Prefect's API server
(each task's body runs as the flow would run it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import SystemClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.exceptions import ConfigError
from exact_online_sdk.scale import S3Sink

from .scenario import AWS_ENV, coordination_table
from .test_prefect_flow import load_example

pytestmark = pytest.mark.slow

APPS = {"app-default": "secret-d", "app-acme": "secret-a", "app-globex": "secret-g"}
ENDPOINTS = ["sync/CRM/Accounts", "sync/Financial/TransactionLines"]


def _store(emu: Any, client_id: str, slots: tuple[str, str]) -> str:
    """A fresh token of app ``client_id`` in ``slots`` (what the refresher keeps there); returns its access token."""
    pair = emu.control.issue_token(client_id)
    now = SystemClock().now()
    token = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), 1)
    SecretsManagerTokenStorage(slots=slots, writable=True).save(token, expected_generation=None)
    return pair["access_token"]


@pytest.fixture
def stack(aws_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Three connections as a stack lists them for workers: "default" (the single-connection variables), "acme"
    by the naming rule only, "globex" with its slot ids and app id given (the ConnectionSlots output's form)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
    region = AWS_ENV["AWS_REGION"]
    prefix = f"exact/{uuid.uuid4().hex[:8]}/"
    sm = boto3.client("secretsmanager", region_name=region)
    slots = {
        "default": (f"{prefix}default-token-a", f"{prefix}default-token-b"),
        "acme": (f"{prefix}acme/token-a", f"{prefix}acme/token-b"),
        "globex": (f"{prefix}elsewhere/globex-a", f"{prefix}elsewhere/globex-b"),
    }
    for pair in slots.values():
        for name in pair:
            sm.create_secret(Name=name)
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    config = EmulatorConfig(clients=APPS, token_daily_limit=None, rows=5, divisions=(1001, 1002))
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        apps = {"default": "app-default", "acme": "app-acme", "globex": "app-globex"}
        tokens = {name: _store(emu, apps[name], pair) for name, pair in slots.items()}
        monkeypatch.setenv("EXACT_TOKEN_SECRET_A", slots["default"][0])
        monkeypatch.setenv("EXACT_TOKEN_SECRET_B", slots["default"][1])
        monkeypatch.setenv("EXACT_CLIENT_ID", "app-default")
        monkeypatch.setenv("EXACT_CONNECTION_PREFIX", prefix)
        connections = {
            "default": {},
            "acme": {"client_id": "app-acme"},
            "globex": {"a": slots["globex"][0], "b": slots["globex"][1], "client_id": "app-globex"},
        }
        monkeypatch.setenv("EXACT_CONNECTIONS", json.dumps(connections))
        monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
        monkeypatch.setenv("EXACT_COORDINATION_TABLE", table)
        monkeypatch.setenv("LANDING_BUCKET", bucket)
        yield {"emu": emu, "table": table, "bucket": bucket, "slots": slots, "tokens": tokens}


def test_the_flow_syncs_every_connection_of_the_environment_with_its_own_slots_and_app(
    stack: dict[str, Any],
) -> None:
    module = load_example()
    connections = module.worker_connections()
    assert [c.name for c in connections] == ["default", "acme", "globex"]
    assert {c.name: c.slots for c in connections} == stack["slots"]
    assert {c.name: c.client_id for c in connections} == {
        "default": "app-default",  # the stack's app (EXACT_CLIENT_ID), as the refresher reads it
        "acme": "app-acme",
        "globex": "app-globex",
    }

    # What sync_all plans and runs: each connection's divisions read with its own token, then every unit.
    units = module.plan_units(connections, ENDPOINTS, lambda c: module.list_divisions.fn(connection=c))
    assert [(c.name, d, e) for c, d, e in units] == [
        (name, division, endpoint)
        for name in ("default", "acme", "globex")
        for division in (1001, 1002)
        for endpoint in ENDPOINTS
    ]
    results = [module.sync_unit.fn(c, d, e, stack["bucket"], stack["table"]) for c, d, e in units]
    assert [r["status"] for r in results] == ["synced"] * len(units)

    # Each connection's rows landed under its own partition, complete.
    sink = S3Sink(stack["bucket"])
    emu = stack["emu"]
    for name in ("default", "acme", "globex"):
        for division in (1001, 1002):
            (manifest,) = sink.manifests(name, division, "sync/CRM/Accounts")
            assert manifest["status"] == "complete"
            landed = sum(len(sink.read_part(p["key"])) for p in manifest["parts"])
            assert landed == emu.control.table("crm/Accounts", division).count()
    # Each connection's calls drew from its own app's shared budget (EXACT_CLIENT_ID for "default").
    items = boto3.client("dynamodb").scan(TableName=stack["table"])["Items"]
    budgets = {item["pk"]["S"].split("#")[2] for item in items if item["pk"]["S"].startswith("budget#")}
    assert budgets == {"app-default", "app-acme", "app-globex"}
    assert emu.control.counters().get("unauthorized", 0) == 0


def test_a_connection_named_by_hand_still_reads_the_slot_prefix_given(stack: dict[str, Any]) -> None:
    """The ``connections`` parameter of before (name -> slot name prefix; "" = EXACT_TOKEN_SECRET_A/_B)."""
    module = load_example()
    chosen = module.worker_connections({"default": "", "old": "exact/old/token"})
    assert [(c.name, c.slots, c.client_id) for c in chosen] == [
        ("default", stack["slots"]["default"], "app-default"),
        ("old", ("exact/old/token-a", "exact/old/token-b"), "app-default"),
    ]


def test_no_connection_in_the_environment_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_example()
    for name in ("EXACT_CONNECTIONS", "EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B", "EXACT_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="EXACT_CONNECTIONS"):
        module.worker_connections()
