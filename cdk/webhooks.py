"""ExactWebhookReceiver: an optional public endpoint for Exact webhooks that queues verified events.

Exact cannot sign requests with SigV4, so the Function URL has auth NONE; authenticity comes from the HashCode
the handler checks on the raw body with the webhook secret. Verified events go to an encrypted SQS queue.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.acknowledgements import acknowledge
from cdk.functions import drop_redundant_role_dependency, python_function
from cdk.layer import ROOT
from cdk.token_slots import empty_secret


class ExactWebhookReceiver(Construct):
    """Webhook secret (no value), events queue with a dead-letter queue, receiver function and its public URL."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        sdk_layer: lambda_.ILayerVersion,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        code: Path = ROOT / "lambdas" / "webhook",
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        # The value comes from Exact: the operator puts it after deploy.
        self.secret = empty_secret(
            self,
            "WebhookSecret",
            "Exact webhook secret (the app's webhook secret as plain text); put it here after deploy",
            key,
            removal_policy,
        )

        self.dead_letters = sqs.Queue(
            self,
            "EventsDlq",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Events",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
        )
        self.function = python_function(
            self,
            "Receiver",
            description="Verifies Exact webhook deliveries (HashCode) and queues them",
            code=code,
            runtime=runtime,
            architecture=architecture,
            layers=[sdk_layer],
            timeout=Duration.seconds(10),
            log_group_id="Logs",
            removal_policy=removal_policy,
            environment={
                "EXACT_WEBHOOK_SECRET_ARN": self.secret.secret_arn,
                "WEBHOOK_QUEUE_URL": self.queue.queue_url,
            },
        )
        self.secret.grant_read(self.function)
        self.queue.grant_send_messages(self.function)
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        drop_redundant_role_dependency(self.function)

        acknowledge(self.secret, "AwsSolutions-SMG4", "The webhook secret is issued by Exact; it is rotated there.")
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the events queue.")
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            acknowledge(
                self.function,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant to send to the KMS-encrypted events queue; limited to the construct's one key.",
            )
