"""The construct as a library user sees it: grants into another stack, metrics, alarms by name, tuning props, and
the app's context parsing. One app with two stacks (tokens, workers), synthesized once for the module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exact_online_sdk.aws import metrics_names as mn

from .conftest import CLIENT_ID, ROOT, SKIP_BUNDLING

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-api")]


@dataclass
class Apps:
    tokens: Any
    workers: dict[str, Any]
    tokens_template: dict[str, Any]
    workers_template: dict[str, Any]
    custom_template: dict[str, Any]
    outdir: Path


SDK_ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:exact-sdk:3"
POWERTOOLS_ARN = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:7"


def cdk_context(**extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**ctx, **SKIP_BUNDLING, **extra}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Apps:
    from aws_cdk import App, Duration, Stack
    from aws_cdk import aws_cloudwatch_actions as cw_actions
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_scheduler as scheduler
    from aws_cdk import aws_sns as sns

    from cdk.acknowledgements import add_nag
    from cdk.functions import FunctionSettings
    from cdk.stack import ExactOnlineTokenStack
    from cdk.token_refresher import ExactTokenRefresher

    outdir = tmp_path_factory.mktemp("cdk-api")
    app = App(context=cdk_context(), outdir=str(outdir))
    tokens = ExactOnlineTokenStack(
        app,
        "Tokens",
        client_id=CLIENT_ID,
        refresher_options={
            "schedule": scheduler.ScheduleExpression.rate(Duration.minutes(2)),
            "function_settings": FunctionSettings(
                memory_size=512, tracing=lambda_.Tracing.DISABLED, log_retention=logs.RetentionDays.ONE_WEEK
            ),
            "disabled_alarms": ["LostAnswerResends"],
            "alarm_name_prefix": "exact-prod-",
            "alarm_thresholds": {"TokenFreshness": 45},
            "powertools_version": "latest",
            "worker_coordination_access": False,
        },
    )
    pager = sns.Topic(tokens, "Pager", enforce_ssl=True)
    tokens.refresher.alarm("ChainBroken").add_alarm_action(cw_actions.SnsAction(pager))
    workers_stack = Stack(app, "Workers")
    worker = iam.Role(workers_stack, "Worker", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    operator = iam.Role(workers_stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    grants = {
        "read": tokens.refresher.grant_token_read(worker),
        "bootstrap": tokens.refresher.grant_bootstrap(operator),
    }
    # A layer of your own, defined where its construct path sorts before the Powertools layer's.
    custom = Stack(app, "Custom")
    ExactTokenRefresher(
        custom,
        "Refresher",
        client_id=CLIENT_ID,
        sdk_layer=lambda_.LayerVersion.from_layer_version_arn(custom, "ASdk", SDK_ARN),
        powertools_layer_arn=POWERTOOLS_ARN,
    )
    add_nag(app)
    assembly = app.synth()
    return Apps(
        tokens=tokens,
        workers={"worker": worker, "operator": operator, **grants},
        tokens_template=assembly.get_stack_by_name("Tokens").template,
        workers_template=assembly.get_stack_by_name("Workers").template,
        custom_template=assembly.get_stack_by_name("Custom").template,
        outdir=outdir,
    )


def statements_of(template: dict[str, Any], role_id_prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and r["Properties"]["Roles"][0]["Ref"].startswith(role_id_prefix)
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(stmts: list[dict[str, Any]]) -> set[str]:
    return {a for s in stmts for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_grant_token_read_gives_another_stack_read_only_access_and_returns_the_whole_grant(apps: Apps) -> None:
    stmts = statements_of(apps.workers_template, "Worker")
    assert actions(stmts) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"}
    [decrypt] = [s for s in stmts if s["Action"] == "kms:Decrypt"]
    assert "kms:ViaService" in decrypt["Condition"]["StringEquals"]
    grant = apps.workers["read"]
    assert grant.success
    # The returned grant covers the secrets *and* the key.
    granted: set[str] = set()
    for stmt in grant.principal_statements:
        action = stmt.to_statement_json()["Action"]
        granted |= {action} if isinstance(action, str) else set(action)
    assert granted == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"}


def test_item7_grant_bootstrap_allows_both_url_actions_on_the_bootstrap_only(apps: Apps) -> None:
    stmts = statements_of(apps.workers_template, "Operator")
    assert actions(stmts) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    [url] = [s for s in stmts if s["Action"] == "lambda:InvokeFunctionUrl"]
    assert url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    resources = {json.dumps(s["Resource"]) for s in stmts}
    assert len(resources) == 1
    assert "Bootstrap" in next(iter(resources))
    assert apps.workers["bootstrap"].success


def test_item9_tuning_props_reach_the_template(apps: Apps) -> None:
    resources = apps.tokens_template["Resources"]
    r = apps.tokens.refresher
    stack = apps.tokens
    fn = resources[stack.resolve(stack.get_logical_id(r.refresher.node.default_child))]["Properties"]
    assert fn["MemorySize"] == 512
    assert "TracingConfig" not in fn or fn["TracingConfig"] == {"Mode": "PassThrough"}
    [schedule] = [v for v in resources.values() if v["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["Properties"]["ScheduleExpression"] == "rate(2 minutes)"
    retention = {v["Properties"]["RetentionInDays"] for v in resources.values() if v["Type"] == "AWS::Logs::LogGroup"}
    assert retention == {7}
    # Workers without table access: the worker policy is the token read grant alone.
    [policy] = [v for v in resources.values() if v["Type"] == "AWS::IAM::ManagedPolicy"]
    assert actions(policy["Properties"]["PolicyDocument"]["Statement"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "kms:Decrypt",
    }


def test_item9_named_alarms_thresholds_disabled_alarms_and_extra_actions(apps: Apps) -> None:
    alarms = {
        v["Properties"]["AlarmName"]: v["Properties"]
        for v in apps.tokens_template["Resources"].values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert "exact-prod-LostAnswerResends" not in alarms
    assert all(name.startswith("exact-prod-") for name in alarms)
    assert alarms["exact-prod-TokenFreshness"]["Threshold"] == 45
    assert len(alarms["exact-prod-ChainBroken"]["AlarmActions"]) == 2  # the topic and the pager
    with pytest.raises(KeyError):
        apps.tokens.refresher.alarm("LostAnswerResends")
    assert {a.node.id for a in apps.tokens.refresher.alarms} == {n.removeprefix("exact-prod-") for n in alarms}


def test_item8_latest_powertools_is_allowed_with_a_warning(apps: Apps) -> None:
    params = [p["Default"] for p in apps.tokens_template["Parameters"].values() if "powertools" in p["Default"]]
    assert params == ["/aws/service/powertools/python/arm64/python3.13/latest"]
    metadata = json.loads((apps.outdir / "Tokens.metadata.json").read_text())
    warnings = [e["data"] for entries in metadata.values() for e in entries if e["type"] == "aws:cdk:warning"]
    assert any("exact:powertools-latest" in w for w in warnings)


def test_item8_layer_order_does_not_depend_on_construct_paths(apps: Apps) -> None:
    """CDK sorts layers by construct path (feature flag recognizeLayerVersion); the SDK layer must still win."""
    functions = [r for r in apps.custom_template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 2
    for fn in functions:
        assert fn["Properties"]["Layers"] == [POWERTOOLS_ARN, SDK_ARN]


def test_item9_metric_methods_name_the_refresher_metrics(apps: Apps) -> None:
    tokens = apps.tokens.refresher.tokens
    stack = apps.tokens
    cases = {
        tokens.metric_token_seconds_left(): (mn.TOKEN_SECONDS_LEFT, "Minimum", {}),
        tokens.metric_awaiting_consent(): (mn.AWAITING_CONSENT, "Maximum", {}),
        tokens.metric_chain_broken(): (mn.CHAIN_BROKEN, "Maximum", {}),
        tokens.metric_token_calls_today(): (mn.TOKEN_CALLS_TODAY, "Maximum", {}),
        tokens.metric_refreshes(): (mn.REFRESHES, "Sum", {}),
        tokens.metric_refresh_failures("TooEarly"): (mn.REFRESH_FAILURES, "Sum", {"Reason": "TooEarly"}),
        tokens.metric_slot_writes("B"): (mn.SLOT_WRITES, "Sum", {"Slot": "B"}),
        tokens.metric_rescue_writes(): (mn.RESCUE_WRITES, "Sum", {}),
        tokens.metric_lost_answer_resends(): (mn.LOST_ANSWER_RESENDS, "Sum", {}),
    }
    for metric, (name, statistic, dims) in cases.items():
        assert metric.namespace == mn.NAMESPACE
        assert (metric.metric_name, metric.statistic) == (name, statistic)
        assert stack.resolve(metric.dimensions) == {"service": mn.SERVICE, **dims}
    with pytest.raises(ValueError, match="reason must be one of"):
        tokens.metric_refresh_failures("Nope")


def test_unknown_alarm_names_are_refused() -> None:
    from cdk.monitoring import specs_for

    with pytest.raises(ValueError, match=r"unknown alarm names \['TokenFresh'\]"):
        specs_for("refresher", thresholds={"TokenFresh": 10})


def test_app_context_parsing() -> None:
    from aws_cdk import App

    from cdk.app import Context

    ctx = Context(
        App(
            context={
                "list": " a , b,,",
                "json_list": ["x", "y"],
                "none": "none",
                "five": "5",
                "tags": "team=data, cost-center = 42",
                "json": '{"TokenFreshness": 45}',
                "flag": "True",
            }
        )
    )
    assert ctx.items("list") == ["a", "b"]
    assert ctx.items("json_list") == ["x", "y"]
    assert ctx.items("missing") == []
    assert ctx.optional_int("none", 10) is None
    assert ctx.optional_int("five", None) == 5
    assert ctx.optional_int("missing", 10) == 10
    assert ctx.mapping("tags") == {"team": "data", "cost-center": "42"}
    assert ctx.mapping("json") == {"TokenFreshness": "45"}
    assert ctx.flag("flag")
    assert not ctx.flag("missing")
