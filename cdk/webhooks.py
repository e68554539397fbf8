"""ExactWebhookReceiver: an optional public endpoint for Exact webhooks that queues verified events.

Exact cannot sign requests with SigV4, so the Function URL has auth NONE; authenticity comes from the HashCode
the handler checks on the raw body with the webhook secret. Verified events go to an SQS queue (SQS-managed
encryption) with a dead-letter queue for events your consumer fails five times. A small reserved concurrency caps
what a flood of requests to the public URL can cost. Given the stack's coordination table, every container of the
receiver drops a replayed delivery (``webhook#`` items, a conditional put); without it, each container on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.acknowledgements import acknowledge
from cdk.coordination import CoordinationTable
from cdk.functions import FunctionSettings, drop_redundant_role_dependency, python_function
from cdk.layer import ROOT
from cdk.monitoring import build_alarms, specs_for
from cdk.queues import queue
from cdk.token_slots import empty_secret
from exact_online_sdk.aws.alarms import Resource

DEFAULT_RESERVED_CONCURRENCY = 10


class ExactWebhookReceiver(Construct):
    """Webhook secret (no value), events queue with a dead-letter queue, receiver function, its public URL and
    its alarms (errors, throttles, dead letters)."""

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
        reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY,
        settings: FunctionSettings | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        alarm_thresholds: dict[str, float] | None = None,
        disabled_alarms: Sequence[str] = (),
        alarm_name_prefix: str | None = None,
        coordination: CoordinationTable | None = None,
    ) -> None:
        """``key`` encrypts the webhook secret (used through Secrets Manager only). ``reserved_concurrency``
        (None: no cap) bounds the receiver: beyond it, requests are throttled (HTTP 429) and the WebhookThrottles
        alarm fires. ``coordination``: where replays are remembered across containers (its ``webhook#`` items
        only); None keeps them per container."""
        super().__init__(scope, construct_id)
        # The value comes from Exact: the operator puts it after deploy.
        self.secret = empty_secret(
            self,
            "WebhookSecret",
            "Exact webhook secret (the app's webhook secret as plain text); put it here after deploy",
            key,
            removal_policy,
        )
        self.dead_letters = queue(self, "EventsDlq", retention=Duration.days(14))
        self.queue = queue(
            self,
            "Events",
            retention=Duration.days(4),
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
            settings=settings,
            removal_policy=removal_policy,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "EXACT_WEBHOOK_SECRET_ARN": self.secret.secret_arn,
                "WEBHOOK_QUEUE_URL": self.queue.queue_url,
                **({"EXACT_COORDINATION_TABLE": coordination.table_name} if coordination else {}),
            },
        )
        self.secret.grant_read(self.function)
        self.queue.grant_send_messages(self.function)
        if coordination is not None:
            coordination.grant_webhook_deliveries(self.function)
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        drop_redundant_role_dependency(self.function)

        prefix = f"{Stack.of(self).stack_name}-" if alarm_name_prefix is None else alarm_name_prefix
        self.alarms = build_alarms(
            self,
            specs_for("webhook", thresholds=alarm_thresholds, disabled=disabled_alarms),
            {
                Resource.WEBHOOK_FUNCTION: self.function.function_name,
                Resource.WEBHOOK_DEAD_LETTER_QUEUE: self.dead_letters.queue_name,
            },
            alarm_actions,
            name_prefix=prefix,
        )
        self._acknowledge_findings(reserved_concurrency)

    def _acknowledge_findings(self, reserved_concurrency: int | None) -> None:
        acknowledge(self.secret, "AwsSolutions-SMG4", "The webhook secret is issued by Exact; it is rotated there.")
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the events queue.")
        acknowledge(
            self.url,
            "CKV_AWS_258",
            "Exact cannot sign webhook deliveries with SigV4: the URL is public and the handler verifies Exact's "
            "HashCode (HMAC over the raw body with the webhook secret) before anything is queued.",
        )
        acknowledge(
            self.function,
            "CKV_AWS_116",
            "Invoked synchronously by its Function URL: a failure is answered to Exact (502), so a DLQ never "
            "gets any. Events your consumer fails go to the events queue's dead-letter queue.",
        )
        if reserved_concurrency is None:
            acknowledge(
                self.function,
                "CKV_AWS_115",
                "The reserved concurrency was turned off on purpose (reserved_concurrency=None).",
            )
