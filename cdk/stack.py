"""ExactOnlineTokenStack: the deployable stack around the ExactTokenRefresher construct, with its outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk.layer import POWERTOOLS_VERSION
from cdk.token_refresher import ExactTokenRefresher
from cdk.webhooks import DEFAULT_RESERVED_CONCURRENCY, ExactWebhookReceiver
from exact_online_sdk.config import DEFAULT_BASE_URL

DESCRIPTION = (
    "Exact Online token refresher (exact-online-toolkit): token slots in Secrets Manager, the refresher and bootstrap "
    "Lambdas, their schedule, alarms and the SDK layer"
)
DEFAULT_TAGS = {"application": "exact-online-toolkit"}


class ExactOnlineTokenStack(Stack):
    """Secrets, refresher, schedule, layer and alarms; outputs what workers and operators need.

    ``tags`` (default ``application=exact-online-toolkit``) go on every resource that takes tags.
    Every other keyword argument of :class:`ExactTokenRefresher` can be passed through ``refresher_options``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        client_id: str = "",
        base_url: str = DEFAULT_BASE_URL,
        redirect_uri: str = "",
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        python_version: str = "3.13",
        powertools_version: str = POWERTOOLS_VERSION,
        writer_principal_arns: Sequence[str] = (),
        alarm_email: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        webhooks: bool = False,
        webhook_reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY,
        tags: Mapping[str, str] | None = None,
        refresher_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)
        for key, value in {**DEFAULT_TAGS, **(tags or {})}.items():
            Tags.of(self).add(key, value)
        options: dict[str, Any] = {
            "client_id": client_id,
            "base_url": base_url,
            "redirect_uri": redirect_uri,
            "architecture": architecture,
            "python_version": python_version,
            "powertools_version": powertools_version,
            "writer_principal_arns": writer_principal_arns,
            "alarm_email": alarm_email,
            "removal_policy": removal_policy,
            **(refresher_options or {}),  # wins over the arguments above
        }
        self.refresher = ExactTokenRefresher(self, "TokenRefresher", **options)
        r = self.refresher
        outputs = {
            "TokenSecretAArn": (r.slot_a.secret_arn, "Token slot A (workers read both slots)"),
            "TokenSecretBArn": (r.slot_b.secret_arn, "Token slot B"),
            "RescueSecretArn": (r.rescue_secret.secret_arn, "Rescue copy written when a slot write failed"),
            "ClientSecretArn": (r.client_secret.secret_arn, 'Put {"client_id": ..., "client_secret": ...} here'),
            "SdkLayerArn": (r.sdk_layer.layer_version_arn, "exact_online_sdk Lambda layer"),
            "WorkerPolicyArn": (r.worker_policy.managed_policy_arn, "Attach to worker roles: read-only token"),
            "BootstrapUrl": (r.bootstrap_url.url, "OAuth bootstrap Function URL (IAM auth, SigV4-signed calls)"),
            "AlarmTopicArn": (r.alarm_topic.topic_arn, "Subscribe to the refresher's alarms"),
            "CoordinationTableName": (r.table.table_name, "EXACT_COORDINATION_TABLE (the refresher's lease)"),
            "RefresherFunctionName": (r.refresher.function_name, "The refresher function (logs, metrics)"),
            "FailureQueueUrl": (r.failure_queue.queue_url, "Failed or undeliverable refresher invocations"),
            "ScheduleGroupName": (
                r.functions.schedule_group.schedule_group_name,
                "EventBridge Scheduler group of the refresher's schedule",
            ),
        }
        self.webhooks: ExactWebhookReceiver | None = None
        if webhooks:
            self.webhooks = ExactWebhookReceiver(
                self,
                "Webhooks",
                key=r.key,
                sdk_layer=r.sdk_layer,
                runtime=r.runtime,
                architecture=options["architecture"],
                removal_policy=options["removal_policy"],
                reserved_concurrency=webhook_reserved_concurrency,
                alarm_actions=r.alarm_actions,
            )
            outputs["WebhookUrl"] = (self.webhooks.url.url, "Register this URL as the Exact webhook callback")
            outputs["WebhookSecretArn"] = (self.webhooks.secret.secret_arn, "Put the Exact webhook secret here")
            outputs["WebhookQueueUrl"] = (self.webhooks.queue.queue_url, "Verified webhook events")
            outputs["WebhookFunctionName"] = (self.webhooks.function.function_name, "The webhook receiver function")
            outputs["WebhookDeadLetterQueueUrl"] = (
                self.webhooks.dead_letters.queue_url,
                "Webhook events your consumer failed five times",
            )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
