"""examples/prefect_flow.py end to end under Prefect's test harness: the emulator, and moto for Secrets Manager
(the token slots), DynamoDB (budget, cursors, leases) and S3 (the landing zone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import SystemClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.scale import DynamoDbCursorStore, S3Sink
from tests.support.modules import load_file_module

from .scenario import AWS_ENV, coordination_table

ROOT = Path(__file__).resolve().parents[3]
# The first test of the "prefect" group starts the session's harness in its set-up: minutes on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect"), pytest.mark.timeout(600)]


def load_example() -> ModuleType:
    # registered: a deployment names its flow by module (examples/ is not a package)
    return load_file_module(ROOT / "examples" / "prefect_flow.py", "prefect_flow", register=True)


@pytest.fixture
def stack(aws_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What the stack and the refresher provide, on the moto server; the emulator as Exact (real time: Prefect's)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
    region = AWS_ENV["AWS_REGION"]
    secrets = f"exact/{uuid.uuid4().hex[:8]}/token"
    sm = boto3.client("secretsmanager", region_name=region)
    for suffix in ("a", "b"):
        sm.create_secret(Name=f"{secrets}-{suffix}")
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    config = EmulatorConfig(token_daily_limit=None, rows=25, divisions=(1001, 1002))
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        pair = emu.control.issue_token()
        now = SystemClock().now()
        token = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), 1)
        SecretsManagerTokenStorage(secrets, writable=True).save(token, expected_generation=None)
        monkeypatch.setenv("EXACT_TOKEN_SECRET_A", f"{secrets}-a")
        monkeypatch.setenv("EXACT_TOKEN_SECRET_B", f"{secrets}-b")
        monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
        monkeypatch.setenv("EXACT_COORDINATION_TABLE", table)
        monkeypatch.setenv("LANDING_BUCKET", bucket)
        yield {"emu": emu, "table": table, "bucket": bucket}


@pytest.mark.usefixtures("prefect_server")  # the session's harness (tests/support/prefect_harness.py)
def test_every_unit_syncs_in_parallel_into_s3_under_the_prefect_harness(stack: dict[str, Any]) -> None:
    module = load_example()
    emu = stack["emu"]
    endpoints = ["sync/CRM/Accounts", "sync/Financial/TransactionLines"]
    first = module.sync_all(endpoints=endpoints, concurrency=2)
    # Someone else's worker holds one unit: this run reports it busy and does the rest.
    held = DynamoDbCursorStore(stack["table"], connection="default").lease(1002, "sync/CRM/Accounts")
    second = module.sync_all(endpoints=endpoints[:1], divisions=[1001, 1002], concurrency=2)
    held.release()
    # A unit that fails (an endpoint Exact does not have) fails the run, after every other unit had its turn.
    with pytest.MonkeyPatch.context() as fast:
        fast.setattr(module, "sync_unit", module.sync_unit.with_options(retries=0))
        broken = module.sync_all(
            endpoints=["sync/Nope/Nothing", "sync/CRM/Accounts"], divisions=[1001], return_state=True
        )
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/exact-worker:1"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EXACT_WORKER_ROLE_ARN", "arn:aws:iam::123456789012:role/exact-worker")
        deployment = module.deployment(image, concurrency=8)

    units = {(r["division"], r["endpoint"]): r for r in first}
    assert set(units) == {(d, e) for d in (1001, 1002) for e in endpoints}
    assert all(r["status"] == "synced" for r in first)
    for division in (1001, 1002):
        assert units[(division, "sync/CRM/Accounts")]["rows"] == emu.control.table("crm/Accounts", division).count()
        lines = emu.control.table("financialtransaction/TransactionLines", division).count()
        assert units[(division, "sync/Financial/TransactionLines")]["rows"] == lines
    sink = S3Sink(stack["bucket"])
    # The first run's manifest, then the second's and the broken run's (nothing new: no parts).
    manifest, *later = sink.manifests("default", 1001, "sync/CRM/Accounts")
    assert [m["status"] for m in [manifest, *later]] == ["complete"] * 3
    assert sum(len(sink.read_part(p["key"])) for p in manifest["parts"]) == 25
    assert [m["parts"] for m in later] == [[], []]
    cursors = DynamoDbCursorStore(stack["table"], connection="default")
    assert {(s.division, s.endpoint) for s in cursors.states()} == {*units, (1001, "sync/Nope/Nothing")}
    assert all(s.holder is None for s in cursors.states())  # the failed unit gave its lease back too

    again = {(r["division"], r["endpoint"]): r for r in second}
    assert again[(1002, "sync/CRM/Accounts")]["status"] == "busy"
    assert all(r["rows"] == 0 for r in second)  # nothing changed since: the cursors held
    counters = emu.control.counters()
    assert counters.get("rate_limited", 0) == 0
    assert counters.get("token_calls", 0) == 0  # workers read the token; only the refresher refreshes
    # The shared budget was used: its items are in the coordination table.
    items = boto3.client("dynamodb").scan(TableName=stack["table"])["Items"]
    assert any(item["pk"]["S"].startswith("budget#") for item in items)

    assert broken.is_failed()
    assert "1 of 2 units failed: default/1001/sync/Nope/Nothing" in str(broken.message)

    # The ECS deployment: the worker role as task role, the stack's outputs as the environment.
    assert deployment.work_pool_name == "exact-online-ecs"
    assert deployment.parameters == {"concurrency": 8}
    assert deployment.concurrency_limit == 1
    variables = deployment.job_variables
    assert variables["image"] == image
    assert variables["task_role_arn"] == "arn:aws:iam::123456789012:role/exact-worker"
    assert variables["env"]["EXACT_COORDINATION_TABLE"] == stack["table"]
    assert variables["env"]["LANDING_BUCKET"] == stack["bucket"]
    assert {"EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B", "EXACT_BASE_URL"} <= set(variables["env"])
    with pytest.raises(ValueError, match="task role"):
        module.deployment(image)  # no role: refused rather than deployed with a role ECS would reject
