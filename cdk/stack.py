"""ExactOnlineTokenStack: the deployable stack around the ExactTokenRefresher construct, with its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk.token_refresher import ExactTokenRefresher
from cdk.webhooks import ExactWebhookReceiver


class ExactOnlineTokenStack(Stack):
    """Secrets, refresher, schedule, layer and alarms; outputs what workers and operators need."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        client_id: str = "",
        base_url: str = "https://start.exactonline.nl",
        redirect_uri: str = "",
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        python_version: str = "3.13",
        powertools_version: str = "latest",
        writer_principal_arns: Sequence[str] = (),
        alarm_email: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        webhooks: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.refresher = ExactTokenRefresher(
            self,
            "TokenRefresher",
            client_id=client_id,
            base_url=base_url,
            redirect_uri=redirect_uri,
            architecture=architecture,
            python_version=python_version,
            powertools_version=powertools_version,
            writer_principal_arns=writer_principal_arns,
            alarm_email=alarm_email,
            removal_policy=removal_policy,
        )
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
        }
        self.webhooks: ExactWebhookReceiver | None = None
        if webhooks:
            self.webhooks = ExactWebhookReceiver(
                self,
                "Webhooks",
                key=r.key,
                sdk_layer=r.sdk_layer,
                runtime=r.runtime,
                architecture=architecture,
                removal_policy=removal_policy,
            )
            outputs["WebhookUrl"] = (self.webhooks.url.url, "Register this URL as the Exact webhook callback")
            outputs["WebhookSecretArn"] = (self.webhooks.secret.secret_arn, "Put the Exact webhook secret here")
            outputs["WebhookQueueUrl"] = (self.webhooks.queue.queue_url, "Verified webhook events")
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
