"""Template tests of a stack with several Exact connections (context ``connections``): each connection's own secrets
named by the rule the refresher and workers follow, one refresher for all with exactly the access it needs, a worker
policy that reads slots only, outputs a worker pastes, and "default" unchanged (a deploy over an existing stack must
not replace its live token secrets). The same stack has the landing bucket (context ``landing``): its settings and
the worker's grant on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk.connections import GROUPS, group_of, normalize_connections
from exact_online_sdk.aws.connections import connection_secret_names
from exact_online_sdk.config import Settings

from .conftest import Synth, synth_app

# A group of its own: this module's synth and test_stack's run on whichever workers are free, not one after the other.
pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-connections")]

CONNECTIONS = {"acme": {}, "globex": {"baseUrl": "https://start.exactonline.be", "clientId": "globex-app"}}
PREFIX = "ExactOnlineToken/"


@pytest.fixture(scope="session")  # once per worker, in whatever order the worker gets this module's tests
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_app(tmp_path_factory.mktemp("cdk-conn"), connections=json.dumps(CONNECTIONS), landing="true")


def nested_templates(synth: Synth) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in synth.outdir.glob("*.nested.template.json")}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def refresher_statements(synth: Synth) -> list[dict[str, Any]]:
    role = synth.ref(synth.stack.refresher.refresher.role)
    [policy] = [p for p in synth.resources("AWS::IAM::Policy").values() if role in p["Properties"]["Roles"]]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def pattern(part: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":secretsmanager:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":secret:{PREFIX}*/{part}-??????",
            ],
        ]
    }


def test_each_further_connection_has_four_secrets_named_by_the_rule_encrypted_with_the_shared_key(
    synth: Synth,
) -> None:
    r = synth.stack.refresher
    assert r.connection_names == ["default", "acme", "globex"]
    secrets: dict[str, dict[str, Any]] = {}
    for template in nested_templates(synth).values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                secrets[resource["Properties"]["Name"]] = resource
    expected = set()
    for name in ("acme", "globex"):
        names = connection_secret_names(PREFIX, name)
        expected |= {names.slot_a, names.slot_b, names.rescue, names.credentials}
    assert set(secrets) == expected
    for secret in secrets.values():
        assert "GenerateSecretString" not in secret["Properties"]  # created without a value
        assert secret["DeletionPolicy"] == "Retain"
        assert "KmsKeyId" in secret["Properties"]
    # One key for every connection: the stack's own (no key in the nested stacks).
    assert len(synth.resources("AWS::KMS::Key")) == 2  # the token key and the alarm topic's key
    for template in nested_templates(synth).values():
        assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]


def test_further_slots_deny_writes_to_all_but_the_token_writers(synth: Synth) -> None:
    policies = [
        resource["Properties"]
        for template in nested_templates(synth).values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SecretsManager::ResourcePolicy"
    ]
    assert len(policies) == 8  # four secrets per connection
    sids = [{s["Sid"] for s in p["ResourcePolicy"]["Statement"]} for p in policies]
    with_writes = [s for s in sids if "DenyWritesExceptTokenWriters" in s]
    assert len(with_writes) == 6  # two slots and the rescue secret of each
    assert all("DenyLifecycleExceptDeployerAndAdmins" in s for s in sids)


def test_one_refresher_serves_every_connection_from_its_environment(synth: Synth) -> None:
    env = synth.properties(synth.stack.refresher.refresher)["Environment"]["Variables"]
    assert env["EXACT_CONNECTION_PREFIX"] == PREFIX
    connections = json.loads(env["EXACT_CONNECTIONS"])
    assert connections == {
        "default": {},
        "acme": {},
        "globex": {"base_url": "https://start.exactonline.be", "client_id": "globex-app"},
    }
    # "default" keeps the variables of a single-connection stack.
    assert env["EXACT_TOKEN_SECRET_A"] == synth.ref(synth.stack.refresher.slot_a)
    # What the SDK makes of it: the names the stack gave the secrets.
    settings = Settings(
        connections=env["EXACT_CONNECTIONS"], connection_prefix=PREFIX, token_secret_a="A", token_secret_b="B"
    )
    from exact_online_sdk.aws.connections import connection_configs

    configs = connection_configs(settings)
    assert configs["acme"].slots == (f"{PREFIX}acme/token-a", f"{PREFIX}acme/token-b")
    assert configs["globex"].base_url == "https://start.exactonline.be"
    assert configs["default"].slots == ("A", "B")


def test_the_refresher_reads_and_writes_further_secrets_by_pattern_and_may_not_write_credentials(
    synth: Synth,
) -> None:
    statements = refresher_statements(synth)
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    puts = [s for s in statements if as_list(s["Action"]) == ["secretsmanager:PutSecretValue"]]
    read_resources = [r for s in reads for r in as_list(s["Resource"])]
    put_resources = [r for s in puts for r in as_list(s["Resource"])]
    for part in ("token-a", "token-b", "rescue", "client"):
        assert pattern(part) in read_resources
    for part in ("token-a", "token-b", "rescue"):
        assert pattern(part) in put_resources
    assert pattern("client") not in put_resources


def test_workers_read_every_connection_s_slots_never_its_rescue_or_credentials(synth: Synth) -> None:
    [policy] = synth.resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    resources = [r for s in statements if s["Effect"] == "Allow" for r in as_list(s["Resource"])]
    assert pattern("token-a") in resources
    assert pattern("token-b") in resources
    assert pattern("rescue") not in resources
    assert pattern("client") not in resources


def test_outputs_give_workers_the_slot_map_and_the_prefix(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert outputs["ConnectionSecretPrefix"]["Value"] == PREFIX
    text = outputs["ConnectionSlots"]["Value"]
    # The map holds the "default" slots' ARNs (references) and the others' names.
    joined = "".join(p if isinstance(p, str) else "<ref>" for p in text["Fn::Join"][1])
    assert json.loads(joined) == {
        "default": {"a": "<ref>", "b": "<ref>"},
        "acme": {"a": f"{PREFIX}acme/token-a", "b": f"{PREFIX}acme/token-b"},
        "globex": {"a": f"{PREFIX}globex/token-a", "b": f"{PREFIX}globex/token-b"},
    }


def test_default_connection_keeps_its_logical_ids(synth: Synth) -> None:
    """The secrets and key of "default" have the ids of a single-connection stack: adding connections replaces none."""
    r = synth.stack.refresher
    ids = {synth.logical_id(c) for c in (r.slot_a, r.slot_b, r.rescue_secret, r.client_secret, r.key)}
    assert ids == {
        "TokenRefresherSlotAFFE6B982",
        "TokenRefresherSlotB11A6DBE8",
        "TokenRefresherRescue215429C0",
        "TokenRefresherClientCredentials361F4D00",
        "TokenRefresherSecretsKey817639C2",
    }


def test_a_connection_s_nested_stack_depends_on_its_name_only() -> None:
    """Adding or removing a connection never moves another (a moved secret would be replaced with its token)."""
    names = [f"client-{i:03d}" for i in range(100)]
    groups = {name: group_of(name) for name in names}
    assert {group_of(name) for name in names[:50]} <= set(range(GROUPS))
    assert groups == {name: group_of(name) for name in reversed(names)}
    # 100 connections: 8 resources each, the largest group stays far below CloudFormation's 500 per stack.
    largest = max(sum(1 for g in groups.values() if g == group) for group in range(GROUPS))
    assert largest * 8 < 250


def test_connection_list_is_checked_at_synth() -> None:
    assert normalize_connections(["default", "acme"]) == {"acme": {}}
    with pytest.raises(ValueError, match="lower-case"):
        normalize_connections(["Acme"])
    with pytest.raises(ValueError, match="unknown options"):
        normalize_connections({"acme": {"region": "be"}})


# -- the landing bucket ------------------------------------------------------------------------------------------------


def test_landing_bucket_is_private_tls_only_encrypted_versioned_and_expires_old_runs(synth: Synth) -> None:
    landing = synth.stack.refresher.landing
    assert landing is not None
    props = synth.properties(landing.bucket)
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireOldRuns"]["Prefix"] == "exact-online/"
    assert rules["ExpireOldRuns"]["ExpirationInDays"] == 90
    assert rules["ExpireOldRuns"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["AbortUnfinishedUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert synth.template["Resources"][synth.logical_id(landing.bucket)]["DeletionPolicy"] == "Retain"
    [policy] = synth.resources("AWS::S3::BucketPolicy").values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_workers_may_put_get_and_list_the_landing_prefix_only(synth: Synth) -> None:
    landing = synth.stack.refresher.landing
    assert landing is not None
    [policy] = synth.resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    actions = {a for s in s3_statements for a in as_list(s["Action"])}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}  # no delete, no bucket settings
    [objects] = [s for s in s3_statements if "s3:PutObject" in as_list(s["Action"])]
    assert objects["Resource"] == {"Fn::Join": ["", [synth.arn(landing.bucket), "/exact-online/*"]]}
    [listing] = [s for s in s3_statements if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["exact-online/*"]}}
    outputs = synth.template["Outputs"]
    assert outputs["LandingBucketName"]["Value"] == synth.ref(landing.bucket)
    assert outputs["LandingPrefix"]["Value"] == "exact-online"


def test_the_worker_policy_grants_exactly_the_calls_workers_make(synth: Synth) -> None:
    """Every action of the worker policy is one the worker code calls (tests/integration/scale/test_worker_grant.py
    records them over moto against the same lists): the token read, the table's worker items, the landing prefix."""
    from cdk.coordination import WORKER_ITEM_ACTIONS
    from cdk.landing import LANDING_LIST_ACTIONS, LANDING_OBJECT_ACTIONS
    from cdk.token_slots import READ_ACTIONS

    [policy] = synth.resources("AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert allowed == {
        *READ_ACTIONS,
        "kms:Decrypt",
        *WORKER_ITEM_ACTIONS,
        *LANDING_OBJECT_ACTIONS,
        *LANDING_LIST_ACTIONS,
    }
    assert set(WORKER_ITEM_ACTIONS) == {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}
    [table] = [s for s in statements if s["Effect"] == "Allow" and "dynamodb:Query" in as_list(s["Action"])]
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["budget#*", "cursor#*"]}}


def test_cfn_lint_is_clean_on_the_stack_and_its_nested_stacks(synth: Synth) -> None:
    templates = [synth.outdir / f"{synth.stack.stack_name}.template.json", *synth.outdir.glob("*.nested.template.json")]
    assert len(templates) > 1
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
