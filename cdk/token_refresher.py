"""ExactTokenRefresher: the reusable construct that keeps an Exact Online token valid in Secrets Manager.

What it deploys (see ../shared/aws/NOTES.md for why each piece looks like this):
- a KMS key for the secrets, two token "slots" written in turn, a rescue secret and the client-credentials
  secret, all created *without a value* (a later deploy must never overwrite a live token);
- resource policies on the slots (writes denied to all but the refresher, the bootstrap and listed operators)
  and on the rescue secret (writes denied to all but the refresher);
- the refresher function (one instance, no async retries, failures to an encrypted SQS queue) invoked every
  minute by EventBridge Scheduler, and the OAuth bootstrap function behind an IAM-authenticated Function URL;
- the SDK layer, alarms to an SNS topic with its own key, a read-only managed policy for workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    Annotations,
    DefaultStackSynthesizer,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk.fixes import drop_redundant_role_dependency
from cdk.layer import ROOT, SdkLayer, arch_name
from exact_online_sdk.aws import metrics_names as mn

RUNTIMES = {
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
    "3.14": lambda_.Runtime.PYTHON_3_14,
}
LATEST_RUNTIME = RUNTIMES["3.14"]

# Actions that change a secret's value or which version is current. DeleteSecret/TagResource stay with IAM so
# CloudFormation can still manage the secrets' life cycle; UpdateSecret (which can also set a value) is denied
# too, except to the CloudFormation execution role that must update a secret's description or key.
SECRET_WRITE_ACTIONS = [
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:RotateSecret",
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:RestoreSecret",
]
READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]

# The refresher waits inside its invocation for the 570 s window when it opens within the next minute (up to
# ~70 s), then refreshes (~seconds) and writes with bounded retries: 120 s leaves room for all of it.
REFRESHER_TIMEOUT = Duration.seconds(120)


class ExactTokenRefresher(Construct):
    """The token refresher, its secrets, schedule, layer and alarms. Use ``grant_token_read`` for workers."""

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
        refresher_code: Path = ROOT / "lambdas" / "refresher",
        bootstrap_code: Path = ROOT / "lambdas" / "bootstrap",
        sdk_layer: lambda_.ILayerVersion | None = None,
        powertools_version: str = "latest",
        writer_principal_arns: Sequence[str] = (),
        alarm_email: str | None = None,
        freshness_threshold_seconds: int = 30,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        if python_version not in RUNTIMES:
            raise ValueError(f"python_version must be one of {sorted(RUNTIMES)}, not {python_version!r}")
        runtime = self.runtime = RUNTIMES[python_version]
        arch = arch_name(architecture)
        stack = Stack.of(self)

        # --- keys and secrets -------------------------------------------------------------------------------
        self.key = kms.Key(
            self,
            "SecretsKey",
            description="Encrypts the Exact Online token slots, the rescue copy and the client secret",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.slot_a = self._empty_secret("SlotA", "Exact Online token state, slot A", removal_policy)
        self.slot_b = self._empty_secret("SlotB", "Exact Online token state, slot B", removal_policy)
        self.rescue_secret = self._empty_secret(
            "Rescue", "Rescue copy of a refreshed token that could not be stored in the slots", removal_policy
        )
        self.client_secret = self._empty_secret(
            "ClientCredentials",
            'Exact app credentials: put {"client_id": "...", "client_secret": "..."} here once after deploy',
            removal_policy,
        )
        self.slots = (self.slot_a, self.slot_b)

        # --- the SDK layer, Powertools ------------------------------------------------------------------------
        if sdk_layer is None:
            sdk_layer = SdkLayer(
                self, "SdkLayer", architecture=architecture, runtime=runtime, python_version=python_version
            ).layer
        self.sdk_layer = sdk_layer
        # AWS's managed Powertools layer, resolved at deploy from the public SSM parameter for this arch/runtime.
        powertools_arn = ssm.StringParameter.value_for_string_parameter(
            self, f"/aws/service/powertools/python/{arch}/python{python_version}/{powertools_version}"
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_arn)

        # --- failure queue, alarm topic ---------------------------------------------------------------------
        self.failure_queue = sqs.Queue(
            self,
            "RefresherFailures",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
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

        # --- functions ------------------------------------------------------------------------------------------
        common_env = {
            "EXACT_TOKEN_SECRET_A": self.slot_a.secret_arn,
            "EXACT_TOKEN_SECRET_B": self.slot_b.secret_arn,
            "EXACT_CLIENT_SECRET_ARN": self.client_secret.secret_arn,
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
        self.refresher = lambda_.Function(
            self,
            "Refresher",
            description="Refreshes the Exact Online token (the only process that does) and stores it in a slot",
            runtime=runtime,
            architecture=architecture,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(refresher_code), exclude=["__pycache__", "*.pyc", "tests"]),
            layers=[self.sdk_layer, self.powertools_layer],
            memory_size=256,
            timeout=REFRESHER_TIMEOUT,
            # One instance at a time; duplicates of async events are handled by the idempotent handler.
            reserved_concurrent_executions=1,
            retry_attempts=0,
            # A stale event (throttled, re-queued) is worthless: the next minute's run does the work.
            max_event_age=Duration.seconds(60),
            on_failure=destinations.SqsDestination(self.failure_queue),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self._log_group("RefresherLogs", removal_policy),
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                **common_env,
                "EXACT_RESCUE_SECRET": self.rescue_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": mn.SERVICE,
            },
        )
        self.bootstrap = lambda_.Function(
            self,
            "Bootstrap",
            description="OAuth authorization-code bootstrap: writes token generation 1 (IAM-authenticated URL)",
            runtime=runtime,
            architecture=architecture,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(bootstrap_code), exclude=["__pycache__", "*.pyc", "tests"]),
            layers=[self.sdk_layer, self.powertools_layer],
            memory_size=256,
            timeout=Duration.seconds(30),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self._log_group("BootstrapLogs", removal_policy),
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                **common_env,
                "POWERTOOLS_SERVICE_NAME": "exact-token-bootstrap",
                # Optional: else the bootstrap reads "redirect_uri" from the client credentials secret.
                **({"EXACT_REDIRECT_URI": redirect_uri} if redirect_uri else {}),
            },
        )
        self.bootstrap_url = self.bootstrap.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)

        # --- permissions: explicit and minimal (Secret.grant_write would add UpdateSecret & co) ----------------
        refresher_role = self._role(self.refresher)
        bootstrap_role = self._role(self.bootstrap)
        for slot in self.slots:
            for fn in (self.refresher, self.bootstrap):
                slot.grant_read(fn)
                self._grant_put(slot, fn)
        self.client_secret.grant_read(self.refresher)
        self.client_secret.grant_read(self.bootstrap)
        self.rescue_secret.grant_read(self.refresher)
        self._grant_put(self.rescue_secret, self.refresher)

        writers = [refresher_role.role_arn, bootstrap_role.role_arn, *writer_principal_arns]
        for slot in self.slots:
            self._deny_writes_except(slot, writers)
        self._deny_writes_except(self.rescue_secret, [refresher_role.role_arn])
        for fn in (self.refresher, self.bootstrap):
            drop_redundant_role_dependency(fn)

        # --- schedule: every minute, no retries, stale invocations dropped --------------------------------------
        self.schedule = scheduler.Schedule(
            self,
            "EveryMinute",
            description="Invokes the Exact token refresher every minute",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(1)),
            target=scheduler_targets.LambdaInvoke(
                self.refresher,
                retry_attempts=0,
                max_event_age=Duration.seconds(60),
                dead_letter_queue=self.failure_queue,
            ),
        )

        # --- worker access --------------------------------------------------------------------------------------
        self.worker_policy = iam.ManagedPolicy(
            self,
            "WorkerReadPolicy",
            description="Read-only access to the Exact Online token slots (never write, never refresh)",
        )
        self._grant_read_statements(self.worker_policy)

        # --- alarms ---------------------------------------------------------------------------------------------
        self.alarms = self._alarms(freshness_threshold_seconds)
        action = cw_actions.SnsAction(self.alarm_topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)

        self._acknowledge_nag_findings()

    # ----------------------------------------------------------------------------------------------------------
    def grant_token_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the token slots: GetSecretValue/DescribeSecret + kms:Decrypt via Secrets Manager.

        Identity-based only (the key policy already delegates to IAM for use through Secrets Manager), so a
        grantee in another stack creates no reference back from this stack, hence no dependency cycle.
        """
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=READ_ACTIONS, resource_arns=[s.secret_arn for s in self.slots]
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Decrypt"],
            resource_arns=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": self._secretsmanager_service()}},
        )
        return grant

    def _secretsmanager_service(self) -> str:
        return f"secretsmanager.{Stack.of(self).region}.amazonaws.com"

    def _acknowledge_nag_findings(self) -> None:
        """Reasoned cdk-nag (AwsSolutions) acknowledgments, each scoped to the resources it concerns."""

        def ack(scope: Construct, rule: str, reason: str) -> None:
            Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))

        for secret in (*self.slots, self.rescue_secret, self.client_secret):
            ack(
                secret,
                "AwsSolutions-SMG4",
                "Native rotation (4 h minimum) cannot keep a 10-minute OAuth token valid: the refresher Lambda "
                "rotates the token every ~10 minutes into the two slots in turn; the client secret is rotated "
                "at Exact by the operator.",
            )
        ack(
            self.failure_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter/on-failure destination of the refresher and its schedule.",
        )
        for fn in (self.refresher, self.bootstrap):
            ack(
                fn,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch logs.",
            )
            ack(
                fn,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            )
            if self.runtime is not LATEST_RUNTIME:
                ack(
                    fn,
                    "AwsSolutions-L1",
                    f"{self.runtime.name} is a supported runtime chosen on purpose: the layer's compiled wheels "
                    "and the Powertools managed layer are built per runtime; -c pythonVersion=3.14 switches.",
                )
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            ack(
                self.refresher,
                f"AwsSolutions-IAM5[Action::{action}]",
                "CDK's grant to send to the KMS-encrypted failure queue; limited to this construct's one key.",
            )
        stack = Stack.of(self)
        cfn_refresher = self.refresher.node.default_child
        assert isinstance(cfn_refresher, lambda_.CfnFunction)
        refresher_id = stack.resolve(stack.get_logical_id(cfn_refresher))
        # The scheduler's role is a stack-level singleton (not under this construct).
        ack(
            stack,
            f"AwsSolutions-IAM5[Resource::<{refresher_id}.Arn>:*]",
            "EventBridge Scheduler's role may invoke the refresher function and its versions only.",
        )

    def _empty_secret(self, construct_id: str, description: str, removal_policy: RemovalPolicy) -> sm.Secret:
        secret = sm.Secret(
            self, construct_id, description=description, encryption_key=self.key, removal_policy=removal_policy
        )
        # The Secret construct always asks CloudFormation to generate a value; no value at all is what we want:
        # the refresher/bootstrap/operator writes it, and a re-deploy never replaces a live token.
        cfn = secret.node.default_child
        assert isinstance(cfn, sm.CfnSecret)
        cfn.add_property_deletion_override("GenerateSecretString")
        return secret

    def _log_group(self, construct_id: str, removal_policy: RemovalPolicy) -> logs.LogGroup:
        return logs.LogGroup(self, construct_id, retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal_policy)

    @staticmethod
    def _role(fn: lambda_.Function) -> iam.IRole:
        role = fn.role
        assert role is not None
        return role

    def _grant_put(self, secret: sm.Secret, fn: lambda_.Function) -> None:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["secretsmanager:PutSecretValue"], resources=[secret.secret_arn])
        )
        # PutSecretValue with a customer key needs a data key, used only through Secrets Manager.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Encrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": self._secretsmanager_service()}},
            )
        )

    def _deny_writes_except(self, secret: sm.Secret, principal_arns: Sequence[str]) -> None:
        secret.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWritesExceptTokenWriters",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=SECRET_WRITE_ACTIONS,
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": list(principal_arns)}},
            )
        )
        synthesizer = Stack.of(self).synthesizer
        deployer = (
            [Fn.sub(synthesizer.cloud_formation_execution_role_arn)]
            if isinstance(synthesizer, DefaultStackSynthesizer)
            else []
        )
        secret.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUpdateExceptTokenWritersAndDeployer",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["secretsmanager:UpdateSecret"],
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": [*principal_arns, *deployer]}},
            )
        )

    def _grant_read_statements(self, policy: iam.ManagedPolicy) -> None:
        policy.add_statements(
            iam.PolicyStatement(
                sid="ReadTokenSlots",
                actions=READ_ACTIONS,
                resources=[s.secret_arn for s in self.slots],
            ),
            iam.PolicyStatement(
                sid="DecryptViaSecretsManager",
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": self._secretsmanager_service()}},
            ),
        )

    def _metric(self, name: str, statistic: str, dimensions: dict[str, str] | None = None) -> cloudwatch.Metric:
        # Powertools Metrics adds the "service" dimension to every metric it emits.
        return cloudwatch.Metric(
            namespace=mn.NAMESPACE,
            metric_name=name,
            statistic=statistic,
            period=Duration.minutes(1),
            dimensions_map={"service": mn.SERVICE, **(dimensions or {})},
        )

    def _alarms(self, freshness_threshold_seconds: int) -> list[cloudwatch.Alarm]:
        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        return [
            cloudwatch.Alarm(
                self,
                "RefresherErrors",
                alarm_description="The token refresher raised (final refusal by Exact, unknown outcome, store)",
                metric=self.refresher.metric_errors(period=Duration.minutes(1), statistic="Sum"),
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
                metric=self.failure_queue.metric_approximate_number_of_messages_visible(
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
