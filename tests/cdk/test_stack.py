"""Template tests of the token stack as `make synth` builds it (cdk.json's context): what the handlers rely on, who
may do what, how failures are delivered and alarmed, cdk-nag and cfn-lint.

The stack is synthesized once for the module, with cdk-nag attached and bundling skipped (test_cli_synth.py
bundles). Each issue-16 item has its test here or in test_options.py (the stack with every option set).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws.alarms import ALARMS, Resource

from .conftest import CLIENT_ID, Synth, synth_app

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-stack")]

SECRET_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_app(tmp_path_factory.mktemp("cdk-out"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synth: Synth, fn: Any) -> list[dict[str, Any]]:
    """The statements of the policies attached to ``fn``'s role."""
    role = synth.ref(fn.role)
    policies = [p for p in synth.resources("AWS::IAM::Policy").values() if role in p["Properties"]["Roles"]]
    assert len(policies) == 1
    return list(policies[0]["Properties"]["PolicyDocument"]["Statement"])


def granted(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}


# --- the refresher function and its invocation ---------------------------------------------------------------
def test_refresher_function_is_arm64_small_and_waits_long_enough(synth: Synth) -> None:
    synth.t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handler.handler",
            "Architectures": ["arm64"],
            "Runtime": "python3.13",
            "MemorySize": 256,
            # It may wait ~70 s inside the invocation for the 570 s window, then refresh and write.
            "Timeout": 120,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
            "Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": mn.SERVICE})},
        },
    )


def test_refresher_environment_matches_the_handler_contract(synth: Synth) -> None:
    r = synth.stack.refresher
    env = synth.properties(r.refresher)["Environment"]["Variables"]
    assert env == {
        "EXACT_TOKEN_SECRET_A": synth.ref(r.slot_a),
        "EXACT_TOKEN_SECRET_B": synth.ref(r.slot_b),
        "EXACT_RESCUE_SECRET": synth.ref(r.rescue_secret),
        "EXACT_CLIENT_SECRET_ARN": synth.ref(r.client_secret),
        "EXACT_COORDINATION_TABLE": synth.ref(r.table),
        "EXACT_CLIENT_ID": CLIENT_ID,
        "EXACT_BASE_URL": "https://start.exactonline.nl",
        # The alarms read metrics under this namespace and this service dimension.
        "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
        "POWERTOOLS_SERVICE_NAME": mn.SERVICE,
    }
    boot = synth.properties(r.bootstrap)["Environment"]["Variables"]
    assert "EXACT_RESCUE_SECRET" not in boot
    assert boot["EXACT_TOKEN_SECRET_A"] == env["EXACT_TOKEN_SECRET_A"]
    assert boot["EXACT_CLIENT_SECRET_ARN"] == env["EXACT_CLIENT_SECRET_ARN"]
    assert "EXACT_REDIRECT_URI" not in boot  # not given: read from the client credentials secret


def test_async_invocation_has_no_retries_and_an_on_failure_queue(synth: Synth) -> None:
    r = synth.stack.refresher
    synth.t.resource_count_is("AWS::Lambda::EventInvokeConfig", 1)
    synth.t.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": synth.ref(r.refresher),
            "MaximumRetryAttempts": 0,
            "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": {"OnFailure": {"Destination": synth.arn(r.failure_queue)}},
        },
    )


def test_scheduler_invokes_every_minute_without_retries_in_its_own_group(synth: Synth) -> None:
    r = synth.stack.refresher
    synth.t.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            # Its own group: the Scheduler's metrics for this schedule alone (ScheduleGroup dimension).
            "GroupName": synth.stack.resolve(r.functions.schedule_group.schedule_group_name),
            "Target": Match.object_like(
                {
                    "Arn": synth.arn(r.refresher),
                    "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
                    "DeadLetterConfig": {"Arn": synth.arn(r.failure_queue)},
                }
            ),
        },
    )
    # The group is named at synth (no reference): the schedule must still be created after it.
    synth.t.has_resource(
        "AWS::Scheduler::Schedule", {"DependsOn": Match.array_with([synth.logical_id(r.functions.schedule_group)])}
    )
    synth.t.resource_count_is("AWS::Events::Rule", 0)  # scheduled Events rules are the legacy path


# --- item 1: the Scheduler's dead-letter queue can receive -----------------------------------------------------
def test_item1_failure_queue_needs_no_key_grant_so_the_scheduler_role_can_write_to_it(synth: Synth) -> None:
    r = synth.stack.refresher
    queue = synth.properties(r.failure_queue)
    assert queue["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in queue
    # The Scheduler's role: the one the schedule uses. With SSE-SQS, sqs:SendMessage is all it needs.
    [schedule] = synth.resources("AWS::Scheduler::Schedule").values()
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    policies = [p for p in synth.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": synth.arn(r.failure_queue)} in statements
    assert not any(str(a).startswith("kms:") for s in statements for a in as_list(s["Action"]))


# --- item 2: the token key is used through Secrets Manager only ------------------------------------------------
def test_item2_no_identity_policy_uses_the_token_key_except_via_secrets_manager(synth: Synth) -> None:
    key_arn = synth.arn(synth.stack.refresher.key)
    policies = [
        *synth.resources("AWS::IAM::Policy").values(),
        *synth.resources("AWS::IAM::ManagedPolicy").values(),
    ]
    using_key = [
        s
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if key_arn in as_list(s["Resource"]) or any(str(a).startswith("kms:") for a in as_list(s["Action"]))
    ]
    assert using_key, "the functions and workers do use the key (through Secrets Manager)"
    for stmt in using_key:
        assert as_list(stmt["Resource"]) == [key_arn], stmt
        assert set(stmt["Condition"]["StringEquals"]) == {"kms:ViaService"}, stmt
    # No queue is encrypted with the token key.
    for queue in synth.resources("AWS::SQS::Queue").values():
        assert "KmsMasterKeyId" not in queue["Properties"]


# --- secrets and who may write them --------------------------------------------------------------------------
def test_secrets_are_kms_encrypted_retained_and_created_without_a_value(synth: Synth) -> None:
    r = synth.stack.refresher
    synth.t.resource_count_is("AWS::SecretsManager::Secret", 4)
    for secret in synth.resources("AWS::SecretsManager::Secret").values():
        # A value in the template would overwrite the live token on the next deploy.
        assert "SecretString" not in secret["Properties"]
        assert "GenerateSecretString" not in secret["Properties"]
        assert secret["Properties"]["KmsKeyId"] == synth.arn(r.key)
        assert secret["DeletionPolicy"] == "Retain"
    synth.t.has_resource("AWS::KMS::Key", {"Properties": Match.object_like({"EnableKeyRotation": True})})


def statement(synth: Synth, secret: Any, sid: str) -> dict[str, Any]:
    secret_id = synth.ref(secret)
    [policy] = [
        p["Properties"]["ResourcePolicy"]["Statement"]
        for p in synth.resources("AWS::SecretsManager::ResourcePolicy").values()
        if p["Properties"]["SecretId"] == secret_id
    ]
    [stmt] = [s for s in policy if s.get("Sid") == sid]
    return dict(stmt)


def test_slot_resource_policy_denies_writes_to_all_but_refresher_and_bootstrap(synth: Synth) -> None:
    r = synth.stack.refresher
    writers = [synth.arn(r.refresher.role), synth.arn(r.bootstrap.role)]
    for slot in r.slots:
        deny = statement(synth, slot, "DenyWritesExceptTokenWriters")
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == {"AWS": "*"}
        assert {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"} <= set(deny["Action"])
        assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": writers}}
        update = statement(synth, slot, "DenyUpdateExceptTokenWritersAndDeployer")
        assert update["Action"] == "secretsmanager:UpdateSecret"
        allowed = update["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert allowed[:2] == writers
        assert "cfn-exec-role" in json.dumps(allowed[2:])
    rescue = statement(synth, r.rescue_secret, "DenyWritesExceptTokenWriters")
    assert rescue["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [synth.arn(r.refresher.role)]}}


# --- item 6: one guard for deleting, restoring and re-policing the secrets -------------------------------------
def test_item6_only_the_deploy_role_may_delete_restore_or_repolice_a_secret(synth: Synth) -> None:
    r = synth.stack.refresher
    for secret in (*r.slots, r.rescue_secret, r.client_secret):
        guard = statement(synth, secret, "DenyLifecycleExceptDeployerAndAdmins")
        assert guard["Effect"] == "Deny"
        assert guard["Principal"] == {"AWS": "*"}
        assert {
            "secretsmanager:DeleteSecret",
            "secretsmanager:RestoreSecret",
            "secretsmanager:PutResourcePolicy",
            "secretsmanager:DeleteResourcePolicy",
        } <= set(guard["Action"])
        [deployer] = guard["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert "cfn-exec-role" in json.dumps(deployer)
    # Restoring is no longer a "write" denied even to the deploy role and the admins.
    for slot in r.slots:
        assert "secretsmanager:RestoreSecret" not in statement(synth, slot, "DenyWritesExceptTokenWriters")["Action"]


FORBIDDEN_FOR_REFRESHER = {
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:*",
    "dynamodb:*",
    "dynamodb:Scan",
    "dynamodb:Query",
}


def test_refresher_may_put_values_but_not_create_delete_or_update_secrets(synth: Synth) -> None:
    r = synth.stack.refresher
    stmts = role_statements(synth, r.refresher)
    assert not granted(stmts) & FORBIDDEN_FOR_REFRESHER
    puts = [t for s in stmts if "secretsmanager:PutSecretValue" in as_list(s["Action"]) for t in as_list(s["Resource"])]
    assert sorted(map(json.dumps, puts)) == sorted(json.dumps(synth.ref(x)) for x in (*r.slots, r.rescue_secret))
    boot = role_statements(synth, r.bootstrap)
    assert not granted(boot) & FORBIDDEN_FOR_REFRESHER
    boot_puts = [
        t for s in boot if "secretsmanager:PutSecretValue" in as_list(s["Action"]) for t in as_list(s["Resource"])
    ]
    assert sorted(map(json.dumps, boot_puts)) == sorted(json.dumps(synth.ref(x)) for x in r.slots)
    assert not any(str(a).startswith("dynamodb:") for a in granted(boot))


# --- item 10: single writer without reserved concurrency -------------------------------------------------------
def test_item10_coordination_table_matches_the_contract(synth: Synth) -> None:
    synth.t.resource_count_is("AWS::DynamoDB::Table", 1)
    synth.t.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
            ),
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )


def test_item10_refresher_has_no_reserved_concurrency_and_may_touch_lease_items_only(synth: Synth) -> None:
    r = synth.stack.refresher
    for fn in (r.refresher, r.bootstrap):
        assert "ReservedConcurrentExecutions" not in synth.properties(fn)
    table = [s for s in role_statements(synth, r.refresher) if any("dynamodb:" in a for a in as_list(s["Action"]))]
    assert table == [
        {
            "Action": [
                "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["lease#*"]}},
            "Effect": "Allow",
            "Resource": synth.arn(r.table),
        }
    ]


def test_worker_policy_is_the_read_grant_plus_shared_table_items_never_the_lease(synth: Synth) -> None:
    r = synth.stack.refresher
    [policy] = synth.resources("AWS::IAM::ManagedPolicy").values()
    stmts = policy["Properties"]["PolicyDocument"]["Statement"]
    assert granted(stmts) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "kms:Decrypt",
        # What exact_online_sdk.scale calls and nothing more (no put, delete or condition check: it never makes
        # them; tests/integration/scale/test_worker_grant.py records a worker's calls against this very list).
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
    [read] = [s for s in stmts if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert read["Resource"] == [synth.ref(r.slot_a), synth.ref(r.slot_b)]
    # The workers' items only: the rate budget and the sync cursors (exact_online_sdk.scale).
    [items] = [s for s in stmts if s["Effect"] == "Allow" and "dynamodb:Query" in as_list(s["Action"])]
    assert sorted(as_list(items["Action"])) == ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    assert items["Resource"] == synth.arn(r.table)
    assert items["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["budget#*", "cursor#*"]}}
    [deny] = [s for s in stmts if s["Effect"] == "Deny"]
    assert deny["Resource"] == synth.arn(r.table)
    assert deny["Condition"] == {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["lease#*"]}}
    assert synth.template["Outputs"]["WorkerPolicyArn"]["Value"] == synth.ref(r.worker_policy)


# --- items 3 and 4: alarms ------------------------------------------------------------------------------------
def alarms_by_name(synth: Synth) -> dict[str, dict[str, Any]]:
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}
    prefix = "ExactOnlineToken-"
    assert all(name.startswith(prefix) for name in alarms)
    return {name.removeprefix(prefix): props for name, props in alarms.items()}


def watched(props: dict[str, Any]) -> dict[str, Any]:
    """What an alarm watches, the same for a plain metric alarm and for an ``IF(gate >= 1, quiet, value)`` one."""
    if "Metrics" not in props:
        return {
            "Namespace": props["Namespace"],
            "MetricName": props["MetricName"],
            "Statistic": props["Statistic"],
            "Period": props["Period"],
            "Dimensions": sorted(props["Dimensions"], key=lambda d: d["Name"]),
        }
    by_id = {m["Id"]: m for m in props["Metrics"]}
    [expression] = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    stat = by_id["value"]["MetricStat"]
    gate = by_id["gate"]["MetricStat"]
    return {
        "Namespace": stat["Metric"]["Namespace"],
        "MetricName": stat["Metric"]["MetricName"],
        "Statistic": stat["Stat"],
        "Period": stat["Period"],
        "Dimensions": sorted(stat["Metric"]["Dimensions"], key=lambda d: d["Name"]),
        "Expression": expression["Expression"],
        "Gate": (gate["Metric"]["MetricName"], gate["Stat"], gate["Period"], gate["Metric"]["Dimensions"]),
    }


def test_every_refresher_alarm_of_the_table_is_in_the_template_as_specified(synth: Synth) -> None:
    r = synth.stack.refresher
    resources = {
        Resource.REFRESHER_FUNCTION: synth.ref(r.refresher),
        Resource.FAILURE_QUEUE: {"Fn::GetAtt": [synth.logical_id(r.failure_queue), "QueueName"]},
        Resource.SCHEDULE_GROUP: synth.stack.resolve(r.functions.schedule_group.schedule_group_name),
    }
    alarms = alarms_by_name(synth)
    specs = [spec for spec in ALARMS if spec.component == "refresher"]
    assert set(alarms) == {spec.name for spec in specs}
    for spec in specs:
        props = alarms[spec.name]
        dims = [
            {"Name": k, "Value": resources[v] if isinstance(v, Resource) else v} for k, v in spec.dimensions.items()
        ]
        expected: dict[str, Any] = {
            "Namespace": spec.namespace,
            "MetricName": spec.metric,
            "Statistic": spec.statistic,
            "Period": spec.period_s,
            "Dimensions": sorted(dims, key=lambda d: d["Name"]),
        }
        if spec.unless:
            expected["Expression"] = f"IF(gate >= 1, {spec.quiet_value:g}, value)"
            expected["Gate"] = (spec.unless, "Maximum", spec.period_s, dims)
        assert watched(props) == expected, spec.name
        assert {
            "Threshold": props["Threshold"],
            "ComparisonOperator": props["ComparisonOperator"],
            "EvaluationPeriods": props["EvaluationPeriods"],
            "DatapointsToAlarm": props["DatapointsToAlarm"],
            "TreatMissingData": props["TreatMissingData"],
        } == {
            "Threshold": spec.threshold,
            "ComparisonOperator": spec.comparison,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "TreatMissingData": spec.missing_data,
        }, spec.name
        assert f"docs/runbook.md#{spec.runbook}" in props["AlarmDescription"]


def test_item3_alarms_count_what_happened_per_period_and_notify_ok_too(synth: Synth) -> None:
    r = synth.stack.refresher
    alarms = alarms_by_name(synth)
    topic = synth.ref(r.alarm_topic)
    for name, props in alarms.items():
        assert props["AlarmActions"] == [topic], name
        assert props["OKActions"] == [topic], name
    # The failure queue: messages *sent* per five minutes, not its depth (which stays up until someone purges).
    sent = alarms["FailureQueueMessages"]
    assert (sent["MetricName"], sent["Statistic"], sent["Period"]) == ("NumberOfMessagesSent", "Sum", 300)
    assert not [p for p in alarms.values() if watched(p)["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    # Failures per minute, and the quiet pre-consent state: never alarmed itself, and it silences freshness.
    assert (alarms["RefresherErrors"]["MetricName"], alarms["RefresherErrors"]["Period"]) == ("Errors", 60)
    assert not [p for p in alarms.values() if watched(p)["MetricName"] == mn.AWAITING_CONSENT]
    assert watched(alarms["TokenFreshness"])["Gate"][0] == mn.AWAITING_CONSENT
    assert alarms["TokenFreshness"]["TreatMissingData"] == "notBreaching"
    # A refresher that is not invoked at all is caught by its own alarm.
    assert alarms["RefresherNotRunning"]["TreatMissingData"] == "breaching"
    assert alarms["ChainBroken"]["MetricName"] == mn.CHAIN_BROKEN


def test_item4_scheduler_and_destination_failures_are_alarmed(synth: Synth) -> None:
    r = synth.stack.refresher
    alarms = alarms_by_name(synth)
    group = [{"Name": "ScheduleGroup", "Value": synth.stack.resolve(r.functions.schedule_group.schedule_group_name)}]
    assert alarms["ScheduleTargetErrors"]["MetricName"] == "TargetErrorCount"
    assert alarms["ScheduleTargetErrors"]["Dimensions"] == group
    assert alarms["ScheduleDeadLetterFailures"]["MetricName"] == "InvocationsFailedToBeSentToDeadLetterCount"
    assert alarms["ScheduleDeadLetterFailures"]["Dimensions"] == group
    assert alarms["DestinationDeliveryFailures"]["Namespace"] == "AWS/Lambda"
    assert alarms["DestinationDeliveryFailures"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": synth.ref(r.refresher)}
    ]


def test_item4_synth_warns_that_alarms_reach_nobody_without_an_alarm_email(synth: Synth) -> None:
    warnings = synth.warnings()
    assert any("No alarm email" in w and "exact:no-alarm-email" in w for w in warnings), warnings
    synth.t.resource_count_is("AWS::SNS::Subscription", 0)


def test_alarm_topic_has_its_own_key_usable_by_cloudwatch(synth: Synth) -> None:
    r = synth.stack.refresher
    topic = synth.properties(r.alarm_topic)
    assert topic["KmsMasterKeyId"] == synth.arn(r.topic_key)
    assert synth.logical_id(r.topic_key) != synth.logical_id(r.key)
    synth.t.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )
    synth.t.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                            }
                        )
                    ]
                )
            }
        },
    )


# --- item 7: callers of the bootstrap URL ----------------------------------------------------------------------
def test_bootstrap_url_is_iam_authenticated(synth: Synth) -> None:
    r = synth.stack.refresher
    synth.t.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": "AWS_IAM", "TargetFunctionArn": synth.arn(r.bootstrap)}
    )
    assert synth.template["Outputs"]["BootstrapUrl"]["Value"] == {
        "Fn::GetAtt": [synth.logical_id(r.bootstrap_url), "FunctionUrl"]
    }


# --- item 8: pinned Powertools, explicit layer order -----------------------------------------------------------
def test_item8_powertools_is_pinned_to_the_tested_release(synth: Synth) -> None:
    from cdk.layer import POWERTOOLS_VERSION

    assert importlib.metadata.version("aws-lambda-powertools") == POWERTOOLS_VERSION
    params = {k: p["Default"] for k, p in synth.template["Parameters"].items() if "powertools" in p["Default"]}
    assert list(params.values()) == [f"/aws/service/powertools/python/arm64/python3.13/{POWERTOOLS_VERSION}"]
    assert not any("powertools" in w for w in synth.warnings())


def test_item8_the_sdk_layer_is_applied_last_so_its_files_win(synth: Synth) -> None:
    r = synth.stack.refresher
    [powertools_param] = [k for k, p in synth.template["Parameters"].items() if "powertools" in p["Default"]]
    for fn in (r.refresher, r.bootstrap):
        assert synth.properties(fn)["Layers"] == [{"Ref": powertools_param}, synth.ref(r.sdk_layer)]


def test_outputs_name_what_operators_and_workers_need(synth: Synth) -> None:
    r = synth.stack.refresher
    outputs = {k: v["Value"] for k, v in synth.template["Outputs"].items()}
    assert outputs["TokenSecretAArn"] == synth.ref(r.slot_a)
    assert outputs["TokenSecretBArn"] == synth.ref(r.slot_b)
    assert outputs["RescueSecretArn"] == synth.ref(r.rescue_secret)
    assert outputs["ClientSecretArn"] == synth.ref(r.client_secret)
    assert outputs["SdkLayerArn"] == synth.ref(r.sdk_layer)
    assert outputs["AlarmTopicArn"] == synth.ref(r.alarm_topic)
    assert outputs["CoordinationTableName"] == synth.ref(r.table)
    assert outputs["RefresherFunctionName"] == synth.ref(r.refresher)
    assert outputs["FailureQueueUrl"] == synth.ref(r.failure_queue)
    synth.t.has_resource_properties("AWS::Lambda::LayerVersion", {"CompatibleArchitectures": ["arm64"]})


def test_secret_and_key_logical_ids_are_stable(synth: Synth) -> None:
    """The ids deployed stacks hold: a change would make CloudFormation replace the secrets (and lose the token)."""
    r = synth.stack.refresher
    assert {
        "key": synth.logical_id(r.key),
        "slot_a": synth.logical_id(r.slot_a),
        "slot_b": synth.logical_id(r.slot_b),
        "rescue": synth.logical_id(r.rescue_secret),
        "client": synth.logical_id(r.client_secret),
        "topic": synth.logical_id(r.alarm_topic),
    } == {
        "key": "TokenRefresherSecretsKey817639C2",
        "slot_a": "TokenRefresherSlotAFFE6B982",
        "slot_b": "TokenRefresherSlotB11A6DBE8",
        "rescue": "TokenRefresherRescue215429C0",
        "client": "TokenRefresherClientCredentials361F4D00",
        "topic": "TokenRefresherAlarmTopic407F0AF6",
    }


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


def test_unsupported_python_version_is_a_clear_error() -> None:
    from aws_cdk import App

    from cdk.stack import ExactOnlineTokenStack

    with pytest.raises(ValueError, match=r"python_version must be one of \['3.12', '3.13', '3.14'\], not '3.9'"):
        ExactOnlineTokenStack(App(), "Bad", python_version="3.9")
