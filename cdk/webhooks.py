"""ExactWebhookReceiver: an optional public endpoint for Exact webhooks that queues verified events.

Exact cannot sign requests with SigV4, so the Function URL has auth NONE; authenticity comes from the HashCode
the handler checks on the raw body with the webhook secret. Verified events go to an encrypted SQS queue.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.fixes import drop_redundant_role_dependency
from cdk.layer import ROOT


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
        self.secret = sm.Secret(
            self,
            "WebhookSecret",
            description="Exact webhook secret (the app's webhook secret as plain text); put it here after deploy",
            encryption_key=key,
            removal_policy=removal_policy,
        )
        cfn_secret = self.secret.node.default_child
        assert isinstance(cfn_secret, sm.CfnSecret)
        cfn_secret.add_property_deletion_override("GenerateSecretString")  # the value comes from Exact, not us

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
        self.function = lambda_.Function(
            self,
            "Receiver",
            description="Verifies Exact webhook deliveries (HashCode) and queues them",
            runtime=runtime,
            architecture=architecture,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(code), exclude=["__pycache__", "*.pyc", "tests"]),
            layers=[sdk_layer],
            memory_size=256,
            timeout=Duration.seconds(10),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs.LogGroup(
                self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal_policy
            ),
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "EXACT_WEBHOOK_SECRET_ARN": self.secret.secret_arn,
                "WEBHOOK_QUEUE_URL": self.queue.queue_url,
            },
        )
        self.secret.grant_read(self.function)
        self.queue.grant_send_messages(self.function)
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        drop_redundant_role_dependency(self.function)

        def ack(scope: Construct, rule: str, reason: str) -> None:
            Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))

        ack(self.secret, "AwsSolutions-SMG4", "The webhook secret is issued by Exact; it is rotated there.")
        ack(self.dead_letters, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the events queue.")
        ack(
            self.function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch logs.",
        )
        ack(
            self.function,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            ack(
                self.function,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant to send to the KMS-encrypted events queue; limited to the construct's one key.",
            )
        if runtime.name != lambda_.Runtime.PYTHON_3_14.name:
            ack(
                self.function,
                "AwsSolutions-L1",
                f"{runtime.name} is chosen on purpose: the SDK layer's compiled wheels are built per runtime.",
            )
