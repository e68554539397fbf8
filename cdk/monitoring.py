"""RefresherMonitoring: the alarms of the token refresher and where they are sent (an SNS topic with its own key)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from cdk.refresher_functions import RefresherFunctions
from exact_online_sdk.aws import metrics_names as mn


class RefresherMonitoring(Construct):
    """The alarm topic (encrypted with a key CloudWatch may use) and the alarms, each sent to the topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: RefresherFunctions,
        alarm_email: str | None,
        freshness_threshold_seconds: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the token refresher's alarm topic (CloudWatch may use it)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        # Without this, alarms cannot publish to an encrypted topic and are lost silently.
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[cloudwatch_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", master_key=self.topic_key, enforce_ssl=True, display_name="Exact token alarms"
        )
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[cloudwatch_principal],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        if alarm_email:
            self.alarm_topic.add_subscription(subs.EmailSubscription(alarm_email))

        self.alarms = self._alarms(functions, freshness_threshold_seconds)
        action = cw_actions.SnsAction(self.alarm_topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)

    def _metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        # Powertools Metrics adds the "service" dimension to every metric it emits.
        return cloudwatch.Metric(
            namespace=mn.NAMESPACE,
            metric_name=name,
            statistic=statistic,
            period=Duration.minutes(1),
            dimensions_map={"service": mn.SERVICE},
        )

    def _alarms(self, functions: RefresherFunctions, freshness_threshold_seconds: int) -> list[cloudwatch.Alarm]:
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        return [
            cloudwatch.Alarm(
                self,
                "RefresherErrors",
                alarm_description="The token refresher raised (final refusal by Exact, unknown outcome, store)",
                metric=functions.refresher.metric_errors(period=Duration.minutes(1), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=gte,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "TokenFreshness",
                alarm_description="The refresher stopped reporting, or the stored token is about to expire",
                metric=self._metric(mn.TOKEN_SECONDS_LEFT, "Minimum"),
                threshold=freshness_threshold_seconds,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                # No data means no refresher run: that is the failure this alarm exists for.
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "FailureQueueDepth",
                alarm_description="Failed or undeliverable refresher invocations are waiting in the failure queue",
                metric=functions.failure_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=gte,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "RescueStoreWritten",
                alarm_description="A refreshed token could only be saved in the rescue secret: restore it now",
                metric=self._metric(mn.RESCUE_WRITES, "Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=gte,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
