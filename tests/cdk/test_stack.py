"""Template tests: the security-relevant properties of the token stack, cdk-nag and cfn-lint.

The stack is synthesized once for the module, with cdk-nag attached and bundling skipped (test_layer.py bundles).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exact_online_sdk.aws import metrics_names as mn

from .conftest import CLIENT_ID, Synth, synth_app

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-stack")]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_app(tmp_path_factory.mktemp("cdk-out"))


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def actions(stmt: dict[str, Any]) -> list[str]:
    value = stmt["Action"]
    return [value] if isinstance(value, str) else list(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def role_policy(synth: Synth, fn: Any) -> dict[str, Any]:
    role_id = synth.logical_id(fn.role)
    found = [p for p in synth.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    assert len(found) == 1
    return found[0]


def function(synth: Synth, fn: Any) -> dict[str, Any]:
    return synth.template["Resources"][synth.logical_id(fn)]["Properties"]


# --- the refresher function and its invocation ---------------------------------------------------------------
def test_refresher_function_is_single_arm64_small_and_waits_long_enough(synth: Synth) -> None:
    props = function(synth, synth.stack.refresher.refresher)
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Architectures"] == ["arm64"]
    assert props["Runtime"] in {"python3.12", "python3.13"}
    assert props["Handler"] == "handler.handler"
    assert props["MemorySize"] <= 512
    # It may wait ~70 s inside the invocation for the 570 s window, then refresh and write.
    assert 90 <= props["Timeout"] <= 300
    assert props["TracingConfig"] == {"Mode": "Active"}
    layers = props["Layers"]
    assert {"Ref": synth.logical_id(synth.stack.refresher.sdk_layer)} in layers
    assert len(layers) == 2  # the SDK layer and AWS's Powertools layer


def test_refresher_environment_matches_the_handler_contract(synth: Synth) -> None:
    r = synth.stack.refresher
    env = function(synth, r.refresher)["Environment"]["Variables"]
    assert env["EXACT_TOKEN_SECRET_A"] == ref(synth.logical_id(r.slot_a))
    assert env["EXACT_TOKEN_SECRET_B"] == ref(synth.logical_id(r.slot_b))
    assert env["EXACT_RESCUE_SECRET"] == ref(synth.logical_id(r.rescue_secret))
    assert env["EXACT_CLIENT_SECRET_ARN"] == ref(synth.logical_id(r.client_secret))
    assert env["EXACT_CLIENT_ID"] == CLIENT_ID
    assert env["EXACT_BASE_URL"] == "https://start.exactonline.nl"
    # The alarms read metrics under this namespace and this service dimension.
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == mn.NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == mn.SERVICE
    boot = function(synth, r.bootstrap)["Environment"]["Variables"]
    assert "EXACT_RESCUE_SECRET" not in boot
    assert boot["EXACT_TOKEN_SECRET_A"] == env["EXACT_TOKEN_SECRET_A"]
    assert boot["EXACT_CLIENT_SECRET_ARN"] == env["EXACT_CLIENT_SECRET_ARN"]
    assert "EXACT_REDIRECT_URI" not in boot  # not given: read from the client credentials secret


def test_async_invocation_has_no_retries_and_an_encrypted_on_failure_queue(synth: Synth) -> None:
    r = synth.stack.refresher
    _, config = synth.one("AWS::Lambda::EventInvokeConfig")
    props = config["Properties"]
    assert props["FunctionName"] == ref(synth.logical_id(r.refresher))
    assert props["MaximumRetryAttempts"] == 0
    assert props["MaximumEventAgeInSeconds"] == 60
    queue_id = synth.logical_id(r.failure_queue)
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == arn(queue_id)
    queue = synth.template["Resources"][queue_id]["Properties"]
    assert queue["KmsMasterKeyId"] == arn(synth.logical_id(r.key))


def test_scheduler_invokes_every_minute_without_retries(synth: Synth) -> None:
    r = synth.stack.refresher
    _, schedule = synth.one("AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["State"] == "ENABLED"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert target["Arn"] == arn(synth.logical_id(r.refresher))
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    assert target["DeadLetterConfig"]["Arn"] == arn(synth.logical_id(r.failure_queue))
    assert not synth.resources("AWS::Events::Rule"), "scheduled Events rules are the legacy path"


# --- secrets and who may write them ------------------------------------------------------------------------------
def test_secrets_are_kms_encrypted_and_created_without_a_value(synth: Synth) -> None:
    r = synth.stack.refresher
    secrets = synth.resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 4
    for secret in secrets.values():
        props = secret["Properties"]
        assert props["KmsKeyId"] == arn(synth.logical_id(r.key))
        # A value in the template would overwrite the live token on the next deploy.
        assert "SecretString" not in props
        assert "GenerateSecretString" not in props
        assert secret["DeletionPolicy"] == "Retain"
    key = synth.template["Resources"][synth.logical_id(r.key)]["Properties"]
    assert key["EnableKeyRotation"] is True


def _deny(synth: Synth, secret: Any, sid: str) -> dict[str, Any]:
    secret_id = synth.logical_id(secret)
    policies = [
        p["Properties"]["ResourcePolicy"]["Statement"]
        for p in synth.resources("AWS::SecretsManager::ResourcePolicy").values()
        if p["Properties"]["SecretId"] == ref(secret_id)
    ]
    assert len(policies) == 1, f"one resource policy on {secret_id}"
    [stmt] = [s for s in policies[0] if s.get("Sid") == sid]
    assert stmt["Effect"] == "Deny"
    assert stmt["Principal"] == {"AWS": "*"}
    return stmt


def test_slot_resource_policy_denies_writes_to_all_but_refresher_and_bootstrap(synth: Synth) -> None:
    r = synth.stack.refresher
    writers = [arn(synth.logical_id(r.refresher.role)), arn(synth.logical_id(r.bootstrap.role))]
    for slot in r.slots:
        stmt = _deny(synth, slot, "DenyWritesExceptTokenWriters")
        assert {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"} <= set(actions(stmt))
        assert stmt["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": writers}}
        update = _deny(synth, slot, "DenyUpdateExceptTokenWritersAndDeployer")
        assert actions(update) == ["secretsmanager:UpdateSecret"]
        allowed = update["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        assert allowed[:2] == writers
        assert len(allowed) == 3
        assert "cfn-exec-role" in json.dumps(allowed[2])


def test_rescue_secret_is_writable_by_the_refresher_only(synth: Synth) -> None:
    r = synth.stack.refresher
    stmt = _deny(synth, r.rescue_secret, "DenyWritesExceptTokenWriters")
    assert stmt["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [arn(synth.logical_id(r.refresher.role))]}}


def test_extra_writer_principals_are_added_to_the_slot_policy(tmp_path: Path) -> None:
    operator = "arn:aws:iam::111122223333:role/exact-operator"
    synth = synth_app(tmp_path, writerPrincipalArns=f" {operator} ,", redirectUri="https://ops.example/cb")
    boot = function(synth, synth.stack.refresher.bootstrap)["Environment"]["Variables"]
    assert boot["EXACT_REDIRECT_URI"] == "https://ops.example/cb"
    for slot in synth.stack.refresher.slots:
        stmt = _deny(synth, slot, "DenyWritesExceptTokenWriters")
        assert stmt["Condition"]["ArnNotEquals"]["aws:PrincipalArn"][2:] == [operator]
    rescue = _deny(synth, synth.stack.refresher.rescue_secret, "DenyWritesExceptTokenWriters")
    assert operator not in json.dumps(rescue)


FORBIDDEN_FOR_REFRESHER = {
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:*",
}


def test_refresher_may_put_values_but_not_create_delete_or_update_secrets(synth: Synth) -> None:
    r = synth.stack.refresher
    stmts = statements(role_policy(synth, r.refresher))
    granted = {a for s in stmts for a in actions(s)}
    assert not granted & FORBIDDEN_FOR_REFRESHER
    put_targets = [t for s in stmts if "secretsmanager:PutSecretValue" in actions(s) for t in as_list(s["Resource"])]
    assert sorted(json.dumps(t) for t in put_targets) == sorted(
        json.dumps(ref(synth.logical_id(x))) for x in (r.slot_a, r.slot_b, r.rescue_secret)
    )
    boot = statements(role_policy(synth, r.bootstrap))
    assert not {a for s in boot for a in actions(s)} & FORBIDDEN_FOR_REFRESHER
    boot_puts = [t for s in boot if "secretsmanager:PutSecretValue" in actions(s) for t in as_list(s["Resource"])]
    assert ref(synth.logical_id(r.rescue_secret)) not in boot_puts
    assert len(boot_puts) == 2


def test_worker_policy_reads_slots_and_cannot_write(synth: Synth) -> None:
    r = synth.stack.refresher
    _, policy = synth.one("AWS::IAM::ManagedPolicy")
    stmts = statements(policy)
    granted = {a for s in stmts for a in actions(s)}
    assert granted == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"}
    assert "secretsmanager:PutSecretValue" not in granted
    [read] = [s for s in stmts if "secretsmanager:GetSecretValue" in actions(s)]
    assert read["Resource"] == [ref(synth.logical_id(r.slot_a)), ref(synth.logical_id(r.slot_b))]
    [decrypt] = [s for s in stmts if "kms:Decrypt" in actions(s)]
    assert "kms:ViaService" in decrypt["Condition"]["StringEquals"]
    assert synth.template["Outputs"]["WorkerPolicyArn"]["Value"] == ref(synth.logical_id(r.worker_policy))


def test_grant_token_read_gives_another_stack_read_only_access(tmp_path: Path) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam

    from cdk.stack import ExactOnlineTokenStack

    app = App(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path))
    tokens = ExactOnlineTokenStack(app, "Tokens", client_id=CLIENT_ID)
    workers = Stack(app, "Workers")
    role = iam.Role(workers, "Worker", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    tokens.refresher.grant_token_read(role)
    assembly = app.synth()
    template = assembly.get_stack_by_name("Workers").template
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    granted = {a for p in policies for s in statements(p) for a in actions(s)}
    assert {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"} <= granted
    assert not any(a.startswith("secretsmanager:") and "Get" not in a and "Describe" not in a for a in granted)
    assert "kms:Encrypt" not in granted
    assert "kms:GenerateDataKey" not in granted


# --- alarms -----------------------------------------------------------------------------------------------------
def test_alarm_topic_has_its_own_key_usable_by_cloudwatch(synth: Synth) -> None:
    r = synth.stack.refresher
    topic = synth.template["Resources"][synth.logical_id(r.alarm_topic)]["Properties"]
    topic_key_id = synth.logical_id(r.topic_key)
    assert topic["KmsMasterKeyId"] == arn(topic_key_id)
    assert topic_key_id != synth.logical_id(r.key)
    key_policy = synth.template["Resources"][topic_key_id]["Properties"]["KeyPolicy"]["Statement"]
    cw = [s for s in key_policy if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cw
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(actions(cw[0]))
    _, topic_policy = synth.one("AWS::SNS::TopicPolicy")
    publish = [
        s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert publish
    assert actions(publish[0]) == ["sns:Publish"]


def test_alarms_cover_errors_freshness_failure_queue_and_rescue(synth: Synth) -> None:
    r = synth.stack.refresher
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"Errors", mn.TOKEN_SECONDS_LEFT, "ApproximateNumberOfMessagesVisible", mn.RESCUE_WRITES}
    topic = ref(synth.logical_id(r.alarm_topic))
    for props in alarms.values():
        assert props["AlarmActions"] == [topic]
    fresh = alarms[mn.TOKEN_SECONDS_LEFT]
    assert fresh["Namespace"] == mn.NAMESPACE
    assert fresh["TreatMissingData"] == "breaching"  # a silent refresher is the failure to catch
    assert fresh["ComparisonOperator"] == "LessThanThreshold"
    assert {"Name": "service", "Value": mn.SERVICE} in fresh["Dimensions"]
    assert alarms["Errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": ref(synth.logical_id(r.refresher))}]
    assert alarms[mn.RESCUE_WRITES]["Namespace"] == mn.NAMESPACE
    assert alarms[mn.RESCUE_WRITES]["Threshold"] == 1
    queue = alarms["ApproximateNumberOfMessagesVisible"]["Dimensions"][0]["Value"]
    assert queue == {"Fn::GetAtt": [synth.logical_id(r.failure_queue), "QueueName"]}


# --- outputs, layer, bootstrap -----------------------------------------------------------------------------------
def test_outputs_and_bootstrap_url(synth: Synth) -> None:
    r = synth.stack.refresher
    outputs = synth.template["Outputs"]
    assert outputs["TokenSecretAArn"]["Value"] == ref(synth.logical_id(r.slot_a))
    assert outputs["TokenSecretBArn"]["Value"] == ref(synth.logical_id(r.slot_b))
    assert outputs["RescueSecretArn"]["Value"] == ref(synth.logical_id(r.rescue_secret))
    layer_id = synth.logical_id(r.sdk_layer)
    assert outputs["SdkLayerArn"]["Value"] == ref(layer_id)
    layer = synth.template["Resources"][layer_id]["Properties"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    _, url = synth.one("AWS::Lambda::Url")
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == arn(synth.logical_id(r.bootstrap))
    # Powertools comes from AWS's managed layer, resolved at deploy from the public SSM parameter.
    params = [p["Default"] for p in synth.template["Parameters"].values()]
    assert "/aws/service/powertools/python/arm64/python3.13/latest" in params


# --- cdk-nag and cfn-lint -----------------------------------------------------------------------------------------
def test_nag_has_no_open_finding_and_every_acknowledgment_has_a_reason(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    [nag] = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []
    assert nag["conclusion"] == "success"
    suppressed = nag["suppressedViolations"]
    assert {v["ruleName"] for v in suppressed} >= {"AwsSolutions-SMG4", "AwsSolutions-SQS3"}
    for violation in suppressed:
        assert violation["acknowledgedId"] == f"AwsSolutions::{violation['ruleName']}"
        assert len(violation["reason"]) > 40, violation["ruleName"]


def test_nag_is_really_enforced(tmp_path: Path) -> None:
    """The same plugin wiring fails a synth on an unacknowledged finding (so 'no violations' means something)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    from cdk.acknowledgements import add_nag

    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Bad"), "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_nag(app)
    with pytest.raises(Exception, match=r"ValidationFailed|Validation failed"):
        app.synth()


def cfn_lint(synth: Synth) -> None:
    template = synth.outdir / f"{synth.stack.stack_name}.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_is_clean(synth: Synth) -> None:
    cfn_lint(synth)


def test_optional_webhook_receiver(tmp_path: Path) -> None:
    synth = synth_app(tmp_path, webhooks="true")  # nag still passes: synth_app raises on an open finding
    w = synth.stack.webhooks
    assert w is not None
    props = function(synth, w.function)
    env = props["Environment"]["Variables"]
    assert env["EXACT_WEBHOOK_SECRET_ARN"] == ref(synth.logical_id(w.secret))
    assert env["WEBHOOK_QUEUE_URL"] == ref(synth.logical_id(w.queue))
    # Exact cannot sign with SigV4: the URL is public and the handler verifies the HashCode.
    urls = {u["Properties"]["AuthType"] for u in synth.resources("AWS::Lambda::Url").values()}
    assert urls == {"AWS_IAM", "NONE"}
    queue = synth.template["Resources"][synth.logical_id(w.queue)]["Properties"]
    assert queue["KmsMasterKeyId"] == arn(synth.logical_id(synth.stack.refresher.key))
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == arn(synth.logical_id(w.dead_letters))
    secret = synth.template["Resources"][synth.logical_id(w.secret)]["Properties"]
    assert "GenerateSecretString" not in secret
    assert "SecretString" not in secret
    granted = {a for s in statements(role_policy(synth, w.function)) for a in actions(s)}
    assert "secretsmanager:PutSecretValue" not in granted
    assert {"WebhookUrl", "WebhookSecretArn", "WebhookQueueUrl"} <= set(synth.template["Outputs"])
    cfn_lint(synth)


def test_unsupported_python_version_is_a_clear_error() -> None:
    from aws_cdk import App

    from cdk.stack import ExactOnlineTokenStack

    with pytest.raises(ValueError, match=r"python_version must be one of \['3.12', '3.13', '3.14'\], not '3.9'"):
        ExactOnlineTokenStack(App(), "Bad", python_version="3.9")
