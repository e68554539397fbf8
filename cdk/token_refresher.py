"""ExactTokenRefresher: the reusable construct that keeps an Exact Online token valid in Secrets Manager.

It is built from parts with one job each (see ../shared/aws/NOTES.md for why each looks like this):
- :class:`~cdk.token_slots.TokenSlots`: the key, the two token slots written in turn, the rescue and
  client-credentials secrets (all created *without a value*), their resource policies, grants and metrics;
- :class:`~cdk.coordination.CoordinationTable`: the DynamoDB table holding the refresher's lease;
- :class:`~cdk.refresher_functions.RefresherFunctions`: the refresher (every minute via EventBridge Scheduler, no
  retries, failures to a queue) and the OAuth bootstrap behind an IAM-authenticated Function URL;
- :class:`~cdk.monitoring.RefresherMonitoring`: the alarms of ``exact_online_sdk.aws.alarms`` and their actions;
- the SDK layer, AWS's Powertools layer (pinned), the alarm topic and a managed policy for workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from cdk.coordination import CoordinationTable
from cdk.functions import LATEST_RUNTIME, RUNTIMES, FunctionSettings, runtime_for
from cdk.grants import PolicyGrantee
from cdk.layer import POWERTOOLS_VERSION, ROOT, SdkLayer, function_layers, powertools_layer
from cdk.monitoring import RefresherMonitoring, alarm_topic
from cdk.refresher_functions import EVERY_MINUTE, REFRESHER_TIMEOUT, RefresherFunctions
from cdk.token_slots import READ_ACTIONS, SECRET_WRITE_ACTIONS, TokenSlots
from exact_online_sdk.aws.alarms import Resource
from exact_online_sdk.config import DEFAULT_BASE_URL

__all__ = [
    "LATEST_RUNTIME",
    "READ_ACTIONS",
    "REFRESHER_TIMEOUT",
    "RUNTIMES",
    "SECRET_WRITE_ACTIONS",
    "ExactTokenRefresher",
    "FunctionSettings",
]


class ExactTokenRefresher(Construct):
    """The token refresher, its secrets, schedule, layers and alarms.

    Workers: ``grant_token_read(role)`` (or the ``worker_policy`` managed policy); operators who run the consent:
    ``grant_bootstrap(role)``. Alarms: ``alarms``, ``alarm(name)``; metrics in ``tokens.metric_*()``.

    Options an operator tunes: ``schedule``, ``function_settings`` (memory, tracing, log retention),
    ``reserved_concurrency`` (off: the lease fences twin invocations), ``alarm_thresholds`` (alarm name ->
    threshold), ``disabled_alarms``, ``alarm_actions`` (besides the topic), ``alarm_name_prefix`` (default
    ``<stack name>-``), ``reader_principals`` (other accounts whose workers read the token),
    ``admin_principal_arns`` (may delete/restore the secrets), ``writer_principal_arns`` (may also write the
    slots), ``powertools_version`` / ``powertools_layer_arn``.
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
        refresher_code: Path = ROOT / "lambdas" / "refresher",
        bootstrap_code: Path = ROOT / "lambdas" / "bootstrap",
        sdk_layer: lambda_.ILayerVersion | None = None,
        powertools_version: str = POWERTOOLS_VERSION,
        powertools_layer_arn: str | None = None,
        writer_principal_arns: Sequence[str] = (),
        admin_principal_arns: Sequence[str] = (),
        reader_principals: Sequence[str] = (),
        deployer_principal_arns: Sequence[str] | None = None,
        alarm_email: str | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        alarm_thresholds: Mapping[str, float] | None = None,
        disabled_alarms: Sequence[str] = (),
        alarm_name_prefix: str | None = None,
        freshness_threshold_seconds: int | None = None,
        schedule: scheduler.ScheduleExpression = EVERY_MINUTE,
        function_settings: FunctionSettings | None = None,
        reserved_concurrency: int | None = None,
        worker_coordination_access: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime = runtime_for(python_version)
        # "Default" keeps the secrets' and the key's logical ids what they were before the construct was split
        # into parts (CDK leaves a "Default" id out of logical ids): a changed id would make CloudFormation
        # replace the secrets, and the live token with them.
        self.tokens = TokenSlots(
            self,
            "Default",
            removal_policy=removal_policy,
            reader_principals=reader_principals,
            admin_principal_arns=admin_principal_arns,
            deployer_principal_arns=deployer_principal_arns,
        )
        self.coordination = CoordinationTable(self, "Coordination")

        if sdk_layer is None:
            sdk_layer = SdkLayer(
                self, "SdkLayer", architecture=architecture, runtime=self.runtime, python_version=python_version
            ).layer
        self.sdk_layer = sdk_layer
        self.powertools_layer = powertools_layer(
            self,
            architecture=architecture,
            python_version=python_version,
            version=powertools_version,
            layer_arn=powertools_layer_arn,
        )

        self.functions = RefresherFunctions(
            self,
            "Functions",
            tokens=self.tokens,
            coordination=self.coordination,
            layers=function_layers(self.powertools_layer, self.sdk_layer),
            runtime=self.runtime,
            architecture=architecture,
            refresher_code=refresher_code,
            bootstrap_code=bootstrap_code,
            client_id=client_id,
            base_url=base_url,
            redirect_uri=redirect_uri,
            writer_principal_arns=writer_principal_arns,
            removal_policy=removal_policy,
            schedule=schedule,
            settings=function_settings,
            reserved_concurrency=reserved_concurrency,
        )

        self.topic_key, self.alarm_topic = alarm_topic(self, alarm_email=alarm_email)
        thresholds = dict(alarm_thresholds or {})
        if freshness_threshold_seconds is not None:
            thresholds.setdefault("TokenFreshness", freshness_threshold_seconds)
        self.monitoring = RefresherMonitoring(
            self,
            "Monitoring",
            resources={
                Resource.REFRESHER_FUNCTION: self.functions.refresher.function_name,
                Resource.FAILURE_QUEUE: self.functions.failure_queue.queue_name,
                Resource.SCHEDULE_GROUP: self.functions.schedule_group.schedule_group_name,
            },
            topic=self.alarm_topic,
            alarm_email=alarm_email,
            alarm_actions=alarm_actions,
            thresholds=thresholds,
            disabled=disabled_alarms,
            name_prefix=f"{Stack.of(self).stack_name}-" if alarm_name_prefix is None else alarm_name_prefix,
        )
        self.worker_coordination_access = worker_coordination_access

        self.worker_policy = iam.ManagedPolicy(
            self,
            "WorkerReadPolicy",
            description="Workers of the Exact Online token: read the token slots (never write, never refresh)"
            + (" and share the coordination table" if worker_coordination_access else ""),
        )
        self.grant_worker(PolicyGrantee(self.worker_policy))

        # The attributes of the construct before it was split into parts.
        self.key = self.tokens.key
        self.slot_a, self.slot_b, self.slots = self.tokens.slot_a, self.tokens.slot_b, self.tokens.slots
        self.rescue_secret, self.client_secret = self.tokens.rescue_secret, self.tokens.client_secret
        self.refresher, self.bootstrap = self.functions.refresher, self.functions.bootstrap
        self.bootstrap_url, self.schedule = self.functions.bootstrap_url, self.functions.schedule
        self.failure_queue = self.functions.failure_queue
        self.table = self.coordination.table

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """The refresher's alarms (``alarm(name)`` finds one by name)."""
        return list(self.monitoring.alarms.values())

    def alarm(self, name: str) -> cloudwatch.Alarm:
        """The alarm ``name`` (``RefresherErrors``, ``TokenFreshness``, ...; KeyError if absent or disabled)."""
        return self.monitoring.alarms[name]

    @property
    def alarm_actions(self) -> list[cloudwatch.IAlarmAction]:
        """Where every alarm of the refresher goes (the topic first): give them to your own alarms too."""
        return self.monitoring.actions

    def grant_token_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the token slots (secrets and key, via Secrets Manager only); returns the grant.

        Identity-based, so a grantee in another stack creates no reference back to this one (no cycle).
        """
        return self.tokens.grant_read(grantee)

    def grant_worker(self, grantee: iam.IGrantable) -> iam.Grant:
        """What a worker gets (the ``worker_policy`` is built by this very call): the token read grant and, with
        ``worker_coordination_access``, the coordination table's items except the refresher's lease."""
        grant = self.grant_token_read(grantee)
        if self.worker_coordination_access:
            grant = grant.combine(self.coordination.grant_shared_items(grantee))
        return grant

    def grant_bootstrap(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (an operator's role) call the bootstrap URL to run the consent."""
        return self.functions.grant_bootstrap(grantee)
