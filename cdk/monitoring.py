"""Alarms from the table in ``exact_online_sdk.aws.alarms``, and where they go: an SNS topic with its own key.

Every alarm notifies on ALARM *and* on OK: alarms notify only on a change of state, so the OK message is what tells
an operator the incident is over (and that the next ALARM will be news again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import Annotations, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from cdk.metrics import spec_metric
from exact_online_sdk.aws.alarms import ALARMS, AlarmSpec, Resource

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    "LessThanThreshold": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    "LessThanOrEqualToThreshold": cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
MISSING_DATA = {
    "breaching": cloudwatch.TreatMissingData.BREACHING,
    "notBreaching": cloudwatch.TreatMissingData.NOT_BREACHING,
    "ignore": cloudwatch.TreatMissingData.IGNORE,
    "missing": cloudwatch.TreatMissingData.MISSING,
}


def specs_for(
    component: str, *, thresholds: Mapping[str, float] | None = None, disabled: Sequence[str] = ()
) -> list[AlarmSpec]:
    """The table's alarms of one component, minus ``disabled``, with ``thresholds`` overriding the defaults."""
    own = [spec for spec in ALARMS if spec.component == component]
    known = {spec.name for spec in ALARMS}
    unknown = sorted((set(thresholds or {}) | set(disabled)) - known)
    if unknown:
        raise ValueError(f"unknown alarm names {unknown}; the alarms are {sorted(known)}")
    return [
        dataclasses.replace(spec, threshold=(thresholds or {}).get(spec.name, spec.threshold))
        for spec in own
        if spec.name not in disabled
    ]


def build_alarms(
    scope: Construct,
    specs: Iterable[AlarmSpec],
    resources: Mapping[Resource, str],
    actions: Sequence[cloudwatch.IAlarmAction],
    *,
    name_prefix: str,
) -> dict[str, cloudwatch.Alarm]:
    """One alarm per spec under ``scope`` (construct id = spec name), named ``<name_prefix><name>``, sending
    ALARM and OK to ``actions``."""
    alarms: dict[str, cloudwatch.Alarm] = {}
    for spec in specs:
        alarm = cloudwatch.Alarm(
            scope,
            spec.name,
            alarm_name=f"{name_prefix}{spec.name}",
            alarm_description=f"{spec.description}. Runbook: docs/runbook.md#{spec.runbook}",
            metric=spec_metric(spec, resources),
            threshold=spec.threshold,
            comparison_operator=COMPARISONS[spec.comparison],
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=MISSING_DATA[spec.missing_data],
        )
        for action in actions:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        alarms[spec.name] = alarm
    return alarms


def alarm_topic(scope: Construct, *, alarm_email: str | None) -> tuple[kms.Key, sns.Topic]:
    """An SNS topic for alarms, encrypted with its own key that CloudWatch may use (``alias/aws/sns`` would not
    work: alarms to such a topic are lost silently). Created directly in ``scope`` (ids ``AlarmTopicKey`` and
    ``AlarmTopic``), so the topic, and the subscriptions operators added to it, survive changes around it."""
    stack = Stack.of(scope)
    key = kms.Key(
        scope,
        "AlarmTopicKey",
        description="Encrypts the token refresher's alarm topic (CloudWatch may use it)",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,
    )
    cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarms",
            principals=[cloudwatch_principal],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
    )
    topic = sns.Topic(scope, "AlarmTopic", master_key=key, enforce_ssl=True, display_name="Exact token alarms")
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarms",
            principals=[cloudwatch_principal],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
    )
    if alarm_email:
        topic.add_subscription(subs.EmailSubscription(alarm_email))
    return key, topic


class RefresherMonitoring(Construct):
    """The refresher's alarms (from the table) and the actions every alarm sends to (the topic first)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resources: Mapping[Resource, str],
        topic: sns.ITopic,
        alarm_email: str | None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        thresholds: Mapping[str, float] | None = None,
        disabled: Sequence[str] = (),
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.actions: list[cloudwatch.IAlarmAction] = [cw_actions.SnsAction(topic), *alarm_actions]
        self.name_prefix = name_prefix
        if not alarm_email and not alarm_actions:
            Annotations.of(self).add_warning_v2(
                "exact:no-alarm-email",
                "No alarm email (-c alarmEmail=...): the alarms go to the alarm topic (output AlarmTopicArn) and "
                "reach nobody until something subscribes to it.",
            )
        self.alarms = build_alarms(
            self,
            specs_for("refresher", thresholds=thresholds, disabled=disabled),
            resources,
            self.actions,
            name_prefix=name_prefix,
        )
