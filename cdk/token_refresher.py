"""ExactTokenRefresher: the reusable construct that keeps an Exact Online token valid in Secrets Manager.

It is built from parts with one job each (see ../shared/aws/NOTES.md for why each looks like this):
- :class:`~cdk.token_slots.TokenSlots`: the key, the two token slots written in turn, the rescue and
  client-credentials secrets (all created *without a value*), their resource policies and read grants;
- :class:`~cdk.refresher_functions.RefresherFunctions`: the refresher (every minute via EventBridge Scheduler, no
  retries, failures to a queue) and the OAuth bootstrap behind an IAM-authenticated Function URL;
- :class:`~cdk.monitoring.RefresherMonitoring`: the alarms and their SNS topic;
- the SDK layer and AWS's Powertools layer, and a read-only managed policy for workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk.functions import LATEST_RUNTIME, RUNTIMES, runtime_for
from cdk.grants import PolicyGrantee
from cdk.layer import ROOT, SdkLayer, arch_name
from cdk.monitoring import RefresherMonitoring
from cdk.refresher_functions import REFRESHER_TIMEOUT, RefresherFunctions
from cdk.token_slots import READ_ACTIONS, SECRET_WRITE_ACTIONS, TokenSlots

__all__ = [
    "LATEST_RUNTIME",
    "READ_ACTIONS",
    "REFRESHER_TIMEOUT",
    "RUNTIMES",
    "SECRET_WRITE_ACTIONS",
    "ExactTokenRefresher",
]


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
        self.runtime = runtime_for(python_version)
        # "Default" keeps the secrets' and the key's logical ids what they were before the construct was split
        # into parts (CDK leaves a "Default" id out of logical ids): a changed id would make CloudFormation
        # replace the secrets, and the live token with them.
        self.tokens = TokenSlots(self, "Default", removal_policy=removal_policy)

        if sdk_layer is None:
            sdk_layer = SdkLayer(
                self, "SdkLayer", architecture=architecture, runtime=self.runtime, python_version=python_version
            ).layer
        self.sdk_layer = sdk_layer
        # AWS's managed Powertools layer, resolved at deploy from the public SSM parameter for this arch/runtime.
        powertools_arn = ssm.StringParameter.value_for_string_parameter(
            self,
            f"/aws/service/powertools/python/{arch_name(architecture)}/python{python_version}/{powertools_version}",
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_arn)

        self.functions = RefresherFunctions(
            self,
            "Functions",
            tokens=self.tokens,
            layers=[self.sdk_layer, self.powertools_layer],
            runtime=self.runtime,
            architecture=architecture,
            refresher_code=refresher_code,
            bootstrap_code=bootstrap_code,
            client_id=client_id,
            base_url=base_url,
            redirect_uri=redirect_uri,
            writer_principal_arns=writer_principal_arns,
            removal_policy=removal_policy,
        )
        self.monitoring = RefresherMonitoring(
            self,
            "Monitoring",
            functions=self.functions,
            alarm_email=alarm_email,
            freshness_threshold_seconds=freshness_threshold_seconds,
        )

        self.worker_policy = iam.ManagedPolicy(
            self,
            "WorkerReadPolicy",
            description="Read-only access to the Exact Online token slots (never write, never refresh)",
        )
        self.grant_token_read(PolicyGrantee(self.worker_policy))

        # The attributes of the construct before it was split into parts.
        self.key = self.tokens.key
        self.slot_a, self.slot_b, self.slots = self.tokens.slot_a, self.tokens.slot_b, self.tokens.slots
        self.rescue_secret, self.client_secret = self.tokens.rescue_secret, self.tokens.client_secret
        self.refresher, self.bootstrap = self.functions.refresher, self.functions.bootstrap
        self.bootstrap_url, self.schedule = self.functions.bootstrap_url, self.functions.schedule
        self.failure_queue = self.functions.failure_queue
        self.topic_key, self.alarm_topic = self.monitoring.topic_key, self.monitoring.alarm_topic
        self.alarms = self.monitoring.alarms

    def grant_token_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the token slots (secrets and key, via Secrets Manager only); returns the grant.

        Identity-based, so a grantee in another stack creates no reference back to this one (no cycle).
        """
        return self.tokens.grant_read(grantee)
