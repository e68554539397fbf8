"""RefresherFunctions: what runs. The refresher (invoked on a schedule by EventBridge Scheduler, no retries, failures
to a queue) and the OAuth bootstrap behind an IAM-authenticated Function URL, with exactly the access each needs to
the token slots and the coordination table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from cdk.acknowledgements import acknowledge
from cdk.coordination import CoordinationTable
from cdk.functions import FunctionSettings, drop_redundant_role_dependency, python_function, role_of
from cdk.queues import queue
from cdk.token_slots import TokenSlots
from exact_online_sdk.aws import metrics_names as mn

# The refresher waits inside its invocation for the 570 s window when it opens within the next minute (up to
# ~70 s), then refreshes (~seconds) and writes with bounded retries: 120 s leaves room for all of it.
REFRESHER_TIMEOUT = Duration.seconds(120)
EVERY_MINUTE = scheduler.ScheduleExpression.rate(Duration.minutes(1))


class RefresherFunctions(Construct):
    """The refresher and bootstrap functions, the schedule (in its own schedule group) and the failure queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tokens: TokenSlots,
        coordination: CoordinationTable,
        layers: Sequence[lambda_.ILayerVersion],
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        refresher_code: Path,
        bootstrap_code: Path,
        client_id: str,
        base_url: str,
        redirect_uri: str,
        writer_principal_arns: Sequence[str],
        removal_policy: RemovalPolicy,
        schedule: scheduler.ScheduleExpression = EVERY_MINUTE,
        settings: FunctionSettings | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        """``reserved_concurrency`` of the refresher is off by default: the coordination table's lease keeps two
        invocations from refreshing at once, and a reservation fails to deploy in accounts with less than 100
        unreserved concurrency (new accounts)."""
        super().__init__(scope, construct_id)
        # SQS-managed encryption: the Scheduler (its role) and Lambda (the destination) can write without any KMS
        # permission, and the token key is never used for anything but the secrets.
        self.failure_queue = queue(self, "RefresherFailures", retention=Duration.days(14))
        acknowledge(
            self.failure_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter/on-failure destination of the refresher and its schedule.",
        )

        common_env = {
            "EXACT_TOKEN_SECRET_A": tokens.slot_a.secret_arn,
            "EXACT_TOKEN_SECRET_B": tokens.slot_b.secret_arn,
            "EXACT_CLIENT_SECRET_ARN": tokens.client_secret.secret_arn,
            "EXACT_BASE_URL": base_url,
            "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
        }
        if client_id:
            common_env["EXACT_CLIENT_ID"] = client_id
        else:
            Annotations.of(self).add_warning_v2(
                "exact:no-client-id",
                'No client id given (-c clientId=...): the functions read "client_id" from the client '
                "credentials secret.",
            )
        self.refresher = python_function(
            self,
            "Refresher",
            description="Refreshes the Exact Online token (the only process that does) and stores it in a slot",
            code=refresher_code,
            runtime=runtime,
            architecture=architecture,
            layers=layers,
            timeout=REFRESHER_TIMEOUT,
            log_group_id="RefresherLogs",
            settings=settings,
            removal_policy=removal_policy,
            reserved_concurrent_executions=reserved_concurrency,
            retry_attempts=0,
            # A stale event (throttled, re-queued) is worthless: the next scheduled run does the work.
            max_event_age=Duration.seconds(60),
            on_failure=destinations.SqsDestination(self.failure_queue),
            environment={
                **common_env,
                "EXACT_RESCUE_SECRET": tokens.rescue_secret.secret_arn,
                "EXACT_COORDINATION_TABLE": coordination.table_name,
                "POWERTOOLS_SERVICE_NAME": mn.SERVICE,
            },
        )
        self.bootstrap = python_function(
            self,
            "Bootstrap",
            description="OAuth authorization-code bootstrap: writes token generation 1 (IAM-authenticated URL)",
            code=bootstrap_code,
            runtime=runtime,
            architecture=architecture,
            layers=layers,
            timeout=Duration.seconds(30),
            log_group_id="BootstrapLogs",
            settings=settings,
            removal_policy=removal_policy,
            environment={
                **common_env,
                "POWERTOOLS_SERVICE_NAME": "exact-token-bootstrap",
                # Optional: else the bootstrap reads "redirect_uri" from the client credentials secret.
                **({"EXACT_REDIRECT_URI": redirect_uri} if redirect_uri else {}),
            },
        )
        self.bootstrap_url = self.bootstrap.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)

        self._grant_token_access(tokens, writer_principal_arns)
        coordination.grant_lease(self.refresher)
        for fn in (self.refresher, self.bootstrap):
            drop_redundant_role_dependency(fn)
        self.schedule_group = scheduler.ScheduleGroup(self, "Schedules", removal_policy=RemovalPolicy.DESTROY)
        self.schedule = self._schedule(schedule)
        # The schedule names its group by a name fixed at synth, not a reference: say the order explicitly, or
        # CloudFormation may create the schedule before its group exists.
        self.schedule.node.add_dependency(self.schedule_group)
        self._acknowledge_findings(reserved_concurrency)

    def grant_bootstrap(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call the bootstrap's IAM-authenticated URL (``lambda:InvokeFunctionUrl`` and, as
        Lambda requires for URLs created since October 2025, ``lambda:InvokeFunction``)."""
        url = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["lambda:InvokeFunctionUrl"],
            resource_arns=[self.bootstrap.function_arn],
            conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        )
        invoke = iam.Grant.add_to_principal(
            grantee=grantee, actions=["lambda:InvokeFunction"], resource_arns=[self.bootstrap.function_arn]
        )
        return url.combine(invoke)

    def _grant_token_access(self, tokens: TokenSlots, writer_principal_arns: Sequence[str]) -> None:
        # Explicit and minimal: Secret.grant_write would add UpdateSecret & co.
        for slot in tokens.slots:
            for fn in (self.refresher, self.bootstrap):
                slot.grant_read(fn)
                tokens.grant_put(slot, fn)
        tokens.client_secret.grant_read(self.refresher)
        tokens.client_secret.grant_read(self.bootstrap)
        tokens.rescue_secret.grant_read(self.refresher)
        tokens.grant_put(tokens.rescue_secret, self.refresher)
        refresher_role, bootstrap_role = role_of(self.refresher), role_of(self.bootstrap)
        tokens.restrict_writes(
            slot_writers=[refresher_role.role_arn, bootstrap_role.role_arn, *writer_principal_arns],
            rescue_writers=[refresher_role.role_arn],
        )

    def _schedule(self, expression: scheduler.ScheduleExpression) -> scheduler.Schedule:
        """No retries, stale invocations dropped; what cannot be delivered goes to the failure queue."""
        return scheduler.Schedule(
            self,
            "EveryMinute",
            description="Invokes the Exact token refresher",
            schedule=expression,
            schedule_group=self.schedule_group,
            target=scheduler_targets.LambdaInvoke(
                self.refresher,
                retry_attempts=0,
                max_event_age=Duration.seconds(60),
                dead_letter_queue=self.failure_queue,
            ),
        )

    def _acknowledge_findings(self, reserved_concurrency: int | None) -> None:
        stack = Stack.of(self)
        cfn_refresher = self.refresher.node.default_child
        assert isinstance(cfn_refresher, lambda_.CfnFunction)
        refresher_id = stack.resolve(stack.get_logical_id(cfn_refresher))
        # The scheduler's role is a stack-level singleton (not under this construct).
        acknowledge(
            stack,
            f"AwsSolutions-IAM5[Resource::<{refresher_id}.Arn>:*]",
            "EventBridge Scheduler's role may invoke the refresher function and its versions only.",
        )
        acknowledge(
            self.refresher,
            "CKV_AWS_116",
            "Failed asynchronous invocations go to an SQS on-failure destination (the failure queue), which also "
            "records the response; a DeadLetterConfig would duplicate it.",
        )
        acknowledge(
            self.bootstrap,
            "CKV_AWS_116",
            "Invoked synchronously through its Function URL only: the caller sees every failure; a DLQ never gets any.",
        )
        if reserved_concurrency is None:
            acknowledge(
                self.refresher,
                "CKV_AWS_115",
                "Two invocations are fenced by the lease in the coordination table; a reservation fails to deploy "
                "in accounts with less than 100 unreserved concurrency (set reserved_concurrency to reserve).",
            )
        acknowledge(
            self.bootstrap,
            "CKV_AWS_115",
            "Called by hand by an operator through an IAM-authenticated URL, once per consent.",
        )
