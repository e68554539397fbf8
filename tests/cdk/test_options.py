"""Template tests of the stack with every context option set: webhook receiver, alarm email, other accounts' readers,
administrators, reserved concurrency, thresholds, tags, an explicit Powertools layer. Then cfn-lint and checkov on
that template (it holds every resource the stack can have)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from exact_online_sdk.aws.alarms import ALARMS

from .conftest import ROOT, Synth, synth_app
from .test_stack import alarms_by_name, as_list, cfn_lint, granted, role_statements, statement

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-options")]

OTHER_ACCOUNT = "444455556666"
OTHER_ROLE = "arn:aws:iam::777788889999:role/exact-worker"
OPERATOR = "arn:aws:iam::111122223333:role/exact-operator"
# IAM Identity Center roles carry a path and a random suffix: a pattern names them.
SSO_ADMIN = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_AdministratorAccess_*"
POWERTOOLS_ARN = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:7"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_app(
        tmp_path_factory.mktemp("cdk-options"),
        webhooks="true",
        alarmEmail="ops@example.com",
        redirectUri="https://ops.example/cb",
        writerPrincipalArns=f" {OPERATOR} ,",
        adminPrincipalArns=SSO_ADMIN,
        readerPrincipals=f"{OTHER_ACCOUNT},{OTHER_ROLE}",
        refresherReservedConcurrency="1",
        alarmThresholds='{"TokenCallsNearDailyLimit": 180}',
        tags="team=data,cost-center=42",
        powertoolsLayerArn=POWERTOOLS_ARN,
    )


def test_writers_and_redirect_uri_reach_the_slot_policies_and_the_bootstrap(synth: Synth) -> None:
    r = synth.stack.refresher
    assert synth.properties(r.bootstrap)["Environment"]["Variables"]["EXACT_REDIRECT_URI"] == "https://ops.example/cb"
    for slot in r.slots:
        deny = statement(synth, slot, "DenyWritesExceptTokenWriters")
        assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"][2:] == [OPERATOR]
    assert OPERATOR not in json.dumps(statement(synth, r.rescue_secret, "DenyWritesExceptTokenWriters"))


def test_item6_admins_given_as_identity_center_patterns_join_the_deploy_role(synth: Synth) -> None:
    r = synth.stack.refresher
    for secret in (*r.slots, r.rescue_secret, r.client_secret):
        guard = statement(synth, secret, "DenyLifecycleExceptDeployerAndAdmins")
        allowed = guard["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert allowed[-1] == SSO_ADMIN
        assert "cfn-exec-role" in json.dumps(allowed[0])
    # Admins may delete and restore, not write a token.
    for secret in (*r.slots, r.rescue_secret):
        assert SSO_ADMIN not in json.dumps(statement(synth, secret, "DenyWritesExceptTokenWriters"))


def test_item9_workers_in_other_accounts_may_read_the_slots_through_secrets_manager(synth: Synth) -> None:
    r = synth.stack.refresher
    readers = [{"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{OTHER_ACCOUNT}:root"]]}}]
    for slot in r.slots:
        allow = statement(synth, slot, "AllowCrossAccountReaders")
        assert allow["Effect"] == "Allow"
        assert set(as_list(allow["Action"])) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
        principals = as_list(allow["Principal"]["AWS"])
        assert readers[0]["AWS"] in principals
        assert OTHER_ROLE in principals
    key_policy = synth.properties(r.key)["KeyPolicy"]["Statement"]
    [decrypt] = [s for s in key_policy if s.get("Sid") == "AllowCrossAccountReadersViaSecretsManager"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert set(decrypt["Condition"]["StringEquals"]) == {"kms:ViaService"}
    assert OTHER_ROLE in as_list(decrypt["Principal"]["AWS"])


def test_item9_readers_reach_the_slots_only(synth: Synth) -> None:
    r = synth.stack.refresher
    for secret in (r.rescue_secret, r.client_secret):
        [policy] = [
            p["Properties"]["ResourcePolicy"]["Statement"]
            for p in synth.resources("AWS::SecretsManager::ResourcePolicy").values()
            if p["Properties"]["SecretId"] == synth.ref(secret)
        ]
        assert all(s["Effect"] == "Deny" for s in policy)


def test_item9_thresholds_tags_description_and_named_alarms(synth: Synth) -> None:
    alarms = alarms_by_name(synth)
    assert alarms["TokenCallsNearDailyLimit"]["Threshold"] == 180
    synth.t.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "Tags": Match.array_with(
                [
                    {"Key": "application", "Value": "exact-online-toolkit"},
                    {"Key": "cost-center", "Value": "42"},
                    {"Key": "team", "Value": "data"},
                ]
            )
        },
    )
    assert synth.template["Description"].startswith("Exact Online token refresher")


def test_item10_reserved_concurrency_is_an_option(synth: Synth) -> None:
    r = synth.stack.refresher
    assert synth.properties(r.refresher)["ReservedConcurrentExecutions"] == 1
    assert "ReservedConcurrentExecutions" not in synth.properties(r.bootstrap)


def test_item8_an_explicit_powertools_layer_arn_replaces_the_ssm_lookup(synth: Synth) -> None:
    r = synth.stack.refresher
    assert synth.properties(r.refresher)["Layers"] == [POWERTOOLS_ARN, synth.ref(r.sdk_layer)]
    assert not [p for p in synth.template.get("Parameters", {}).values() if "powertools" in p["Default"]]


def test_item4_alarm_email_subscribes_and_silences_the_warning(synth: Synth) -> None:
    synth.t.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    assert not [w for w in synth.warnings() if "alarm email" in w]


# --- the webhook receiver ----------------------------------------------------------------------------------------
def test_webhook_receiver_contract(synth: Synth) -> None:
    w = synth.stack.webhooks
    assert w is not None
    env = synth.properties(w.function)["Environment"]["Variables"]
    assert env == {"EXACT_WEBHOOK_SECRET_ARN": synth.ref(w.secret), "WEBHOOK_QUEUE_URL": synth.ref(w.queue)}
    # Exact cannot sign with SigV4: the URL is public and the handler verifies the HashCode.
    urls = {u["Properties"]["AuthType"] for u in synth.resources("AWS::Lambda::Url").values()}
    assert urls == {"AWS_IAM", "NONE"}
    queue = synth.properties(w.queue)
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": synth.arn(w.dead_letters), "maxReceiveCount": 5}
    secret = synth.properties(w.secret)
    assert "GenerateSecretString" not in secret
    assert "SecretString" not in secret
    assert "secretsmanager:PutSecretValue" not in granted(role_statements(synth, w.function))
    assert {"WebhookUrl", "WebhookSecretArn", "WebhookQueueUrl", "WebhookDeadLetterQueueUrl"} <= set(
        synth.template["Outputs"]
    )


def test_item2_webhook_role_uses_the_token_key_only_through_secrets_manager(synth: Synth) -> None:
    w = synth.stack.webhooks
    assert w is not None
    for queue in (w.queue, w.dead_letters):
        props = synth.properties(queue)
        assert props["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in props
    for stmt in role_statements(synth, w.function):
        if any(str(a).startswith("kms:") for a in as_list(stmt["Action"])):
            assert as_list(stmt["Action"]) == ["kms:Decrypt"]
            assert set(stmt["Condition"]["StringEquals"]) == {"kms:ViaService"}


def test_item5_public_webhook_function_has_a_concurrency_cap(synth: Synth) -> None:
    w = synth.stack.webhooks
    assert w is not None
    assert synth.properties(w.function)["ReservedConcurrentExecutions"] == 10


def test_item4_webhook_errors_throttles_and_dead_letters_are_alarmed(synth: Synth) -> None:
    w = synth.stack.webhooks
    assert w is not None
    alarms = alarms_by_name(synth)
    assert set(alarms) == {spec.name for spec in ALARMS}
    fn = [{"Name": "FunctionName", "Value": synth.ref(w.function)}]
    assert (alarms["WebhookErrors"]["MetricName"], alarms["WebhookErrors"]["Dimensions"]) == ("Errors", fn)
    assert (alarms["WebhookThrottles"]["MetricName"], alarms["WebhookThrottles"]["Dimensions"]) == ("Throttles", fn)
    dlq = alarms["WebhookDeadLetters"]
    assert dlq["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [synth.logical_id(w.dead_letters), "QueueName"]}}
    ]
    topic = synth.ref(synth.stack.refresher.alarm_topic)
    for name in ("WebhookErrors", "WebhookThrottles", "WebhookDeadLetters"):
        assert alarms[name]["AlarmActions"] == [topic]
        assert alarms[name]["OKActions"] == [topic]


# --- checkers ---------------------------------------------------------------------------------------------------
def test_nag_passes_with_every_option(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    [nag] = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []


def test_cfn_lint_is_clean_with_every_option(synth: Synth) -> None:
    cfn_lint(synth)


def checkov_executable() -> Path:
    """checkov from its own environment (.venv-checkov, synced from uv.lock like `make checkov` does)."""
    venv = ROOT / ".venv-checkov"
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    subprocess.run(
        [uv, "sync", "--frozen", "--only-group", "checkov", "--quiet"],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        check=True,
        timeout=600,
    )
    return venv / "bin" / "checkov"


def checkov(template: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            str(checkov_executable()),
            "--file",
            str(template),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_has_no_open_finding_and_every_skip_has_a_reason(synth: Synth) -> None:
    report = checkov(synth.outdir / f"{synth.stack.stack_name}.template.json")
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the accepted findings are recorded as skips"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 40, check["check_id"]
