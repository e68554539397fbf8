"""TokenSlots: where the token lives. A KMS key, the two token slots written in turn, the rescue secret and the
client-credentials secret, all created without a value; who may write or delete them; grants and metrics.

See ../shared/aws/NOTES.md for why the token is double-buffered over two secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from cdk.acknowledgements import acknowledge
from cdk.metrics import refresher_metric
from exact_online_sdk.aws import metrics_names as mn

READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
# Actions that change a secret's value or which version is current: the token's writers only.
SECRET_WRITE_ACTIONS = [
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:RotateSecret",
    "secretsmanager:CancelRotateSecret",
]
# UpdateSecret can set a value too, and change the key or description: writers, and the deploy role.
UPDATE_ACTIONS = ["secretsmanager:UpdateSecret"]
# Actions that delete a secret, undo a deletion, copy it elsewhere or change who may do all this: the deploy role
# and the listed administrators only, so an operator can neither delete a slot nor be unable to restore it.
LIFECYCLE_ACTIONS = [
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:ReplicateSecretToRegions",
]


def principal_of(value: str) -> iam.IPrincipal:
    """An account id (``123456789012``) or a principal ARN as an IAM principal."""
    if value.isdigit() and len(value) == 12:
        return iam.AccountPrincipal(value)
    if value.startswith("arn:"):
        return iam.ArnPrincipal(value)
    raise ValueError(f"expected a 12-digit account id or a principal ARN, not {value!r}")


def empty_secret(
    scope: Construct, construct_id: str, description: str, key: kms.IKey, removal_policy: RemovalPolicy
) -> sm.Secret:
    """A secret created *without a value*: its writer (refresher, bootstrap, operator) puts the value, and a
    re-deploy never replaces a live one."""
    secret = sm.Secret(scope, construct_id, description=description, encryption_key=key, removal_policy=removal_policy)
    # The Secret construct always asks CloudFormation to generate a value; no value at all is what we want.
    cfn = secret.node.default_child
    assert isinstance(cfn, sm.CfnSecret)
    cfn.add_property_deletion_override("GenerateSecretString")
    return secret


class TokenSlots(Construct):
    """The secrets of the token chain and their key. Workers get ``grant_read``; writers ``grant_put``.

    ``reader_principals`` (account ids or principal ARNs of *other* accounts) may read the slots: the secrets'
    resource policies and the key policy allow them, through Secrets Manager only. ``admin_principal_arns`` (ARN
    patterns, ``*`` allowed) may, besides the deploy role, delete and restore the secrets and change their
    resource policies.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        reader_principals: Sequence[str] = (),
        admin_principal_arns: Sequence[str] = (),
        deployer_principal_arns: Sequence[str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "SecretsKey",
            description="Encrypts the Exact Online token slots, the rescue copy and the client secret",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.slot_a = empty_secret(self, "SlotA", "Exact Online token state, slot A", self.key, removal_policy)
        self.slot_b = empty_secret(self, "SlotB", "Exact Online token state, slot B", self.key, removal_policy)
        self.rescue_secret = empty_secret(
            self,
            "Rescue",
            "Rescue copy of a refreshed token that could not be stored in the slots",
            self.key,
            removal_policy,
        )
        self.client_secret = empty_secret(
            self,
            "ClientCredentials",
            'Exact app credentials: put {"client_id": "...", "client_secret": "..."} here once after deploy',
            self.key,
            removal_policy,
        )
        self.slots = (self.slot_a, self.slot_b)
        self.secrets = (*self.slots, self.rescue_secret, self.client_secret)
        self.admin_principal_arns = list(admin_principal_arns)
        self.deployer_principal_arns = (
            list(deployer_principal_arns) if deployer_principal_arns is not None else self._default_deployer()
        )
        for secret in self.secrets:
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "Native rotation (4 h minimum) cannot keep a 10-minute OAuth token valid: the refresher Lambda "
                "rotates the token every ~10 minutes into the two slots in turn; the client secret is rotated "
                "at Exact by the operator.",
            )
        if reader_principals:
            self._allow_readers([principal_of(p) for p in reader_principals])

    # --- grants ---------------------------------------------------------------------------------------------------
    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read the token slots: GetSecretValue/DescribeSecret + kms:Decrypt via Secrets Manager.

        Identity-based only (the key policy already delegates to IAM for use through Secrets Manager), so a
        grantee in another stack creates no reference back from this stack, hence no dependency cycle.
        Returns the combined grant (secrets and key).
        """
        secrets = iam.Grant.add_to_principal(
            grantee=grantee, actions=READ_ACTIONS, resource_arns=[s.secret_arn for s in self.slots]
        )
        key = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Decrypt"],
            resource_arns=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": self.secretsmanager_service}},
        )
        return secrets.combine(key)

    def grant_put(self, secret: sm.ISecret, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` store new values in ``secret`` (PutSecretValue only: ``Secret.grant_write`` would also
        give UpdateSecret and UpdateSecretVersionStage)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["secretsmanager:PutSecretValue"], resources=[secret.secret_arn])
        )
        # PutSecretValue with a customer key needs a data key, used only through Secrets Manager.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Encrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": self.secretsmanager_service}},
            )
        )

    @property
    def secretsmanager_service(self) -> str:
        """The ``kms:ViaService`` value of Secrets Manager in this stack's region."""
        return f"secretsmanager.{Stack.of(self).region}.amazonaws.com"

    # --- resource policies ------------------------------------------------------------------------------------------
    def restrict_writes(self, *, slot_writers: Sequence[str], rescue_writers: Sequence[str]) -> None:
        """Deny writes to every principal but the given ARNs (patterns allowed), and the life-cycle actions to
        every principal but the deploy role and the administrators. Call once, with the final lists."""
        for slot in self.slots:
            self._deny(slot, "DenyWritesExceptTokenWriters", SECRET_WRITE_ACTIONS, slot_writers)
            self._deny(
                slot,
                "DenyUpdateExceptTokenWritersAndDeployer",
                UPDATE_ACTIONS,
                [*slot_writers, *self.deployer_principal_arns],
            )
        self._deny(self.rescue_secret, "DenyWritesExceptTokenWriters", SECRET_WRITE_ACTIONS, rescue_writers)
        self._deny(
            self.rescue_secret,
            "DenyUpdateExceptTokenWritersAndDeployer",
            UPDATE_ACTIONS,
            [*rescue_writers, *self.deployer_principal_arns],
        )
        guardians = [*self.deployer_principal_arns, *self.admin_principal_arns]
        if not guardians:
            Annotations.of(self).add_warning_v2(
                "exact:no-secret-guard",
                "No deploy role known (not the default synthesizer) and no adminPrincipalArns: the secrets' "
                "deletion and resource policies are left to IAM alone.",
            )
            return
        for secret in self.secrets:
            self._deny(secret, "DenyLifecycleExceptDeployerAndAdmins", LIFECYCLE_ACTIONS, guardians)

    def _deny(self, secret: sm.Secret, sid: str, actions: Sequence[str], except_arns: Sequence[str]) -> None:
        secret.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(actions),
                resources=["*"],
                # ArnNotLike: the listed ARNs may be patterns (IAM Identity Center roles carry a random suffix).
                conditions={"ArnNotLike": {"aws:PrincipalArn": list(except_arns)}},
            )
        )

    def _allow_readers(self, principals: Sequence[iam.IPrincipal]) -> None:
        for slot in self.slots:
            slot.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCrossAccountReaders", principals=list(principals), actions=READ_ACTIONS, resources=["*"]
                )
            )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCrossAccountReadersViaSecretsManager",
                principals=list(principals),
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": self.secretsmanager_service}},
            )
        )

    def _default_deployer(self) -> list[str]:
        synthesizer = Stack.of(self).synthesizer
        if isinstance(synthesizer, DefaultStackSynthesizer):
            return [Fn.sub(synthesizer.cloud_formation_execution_role_arn)]
        return []

    # --- metrics (emitted by the refresher about the token chain) ------------------------------------------------
    def metric_token_seconds_left(self, period: Duration | None = None) -> cloudwatch.Metric:
        """Validity left of the newest stored token (Minimum)."""
        return refresher_metric(mn.TOKEN_SECONDS_LEFT, statistic="Minimum", period=period)

    def metric_awaiting_consent(self, period: Duration | None = None) -> cloudwatch.Metric:
        """1 while no token chain is stored yet (before the first consent), else 0 (Maximum)."""
        return refresher_metric(mn.AWAITING_CONSENT, statistic="Maximum", period=period)

    def metric_chain_broken(self, period: Duration | None = None) -> cloudwatch.Metric:
        """1 while the stored chain was refused for good and no newer consent exists (Maximum)."""
        return refresher_metric(mn.CHAIN_BROKEN, statistic="Maximum", period=period)

    def metric_token_calls_today(self, period: Duration | None = None) -> cloudwatch.Metric:
        """Calls to Exact's token endpoint this UTC day (Maximum)."""
        return refresher_metric(mn.TOKEN_CALLS_TODAY, statistic="Maximum", period=period)

    def metric_refreshes(self, period: Duration | None = None) -> cloudwatch.Metric:
        """Tokens refreshed at Exact and stored (Sum)."""
        return refresher_metric(mn.REFRESHES, statistic="Sum", period=period)

    def metric_refresh_failures(self, reason: str, period: Duration | None = None) -> cloudwatch.Metric:
        """Failed runs for one reason (one of ``metrics_names.REASONS``; Sum)."""
        if reason not in mn.REASONS:
            raise ValueError(f"reason must be one of {mn.REASONS}, not {reason!r}")
        return refresher_metric(
            mn.REFRESH_FAILURES, statistic="Sum", period=period, dimensions={mn.DIMENSION_REASON: reason}
        )

    def metric_slot_writes(self, slot: str, period: Duration | None = None) -> cloudwatch.Metric:
        """New generations stored in slot "A" or "B" (Sum)."""
        if slot not in ("A", "B"):
            raise ValueError(f'slot must be "A" or "B", not {slot!r}')
        return refresher_metric(mn.SLOT_WRITES, statistic="Sum", period=period, dimensions={mn.DIMENSION_SLOT: slot})

    def metric_rescue_writes(self, period: Duration | None = None) -> cloudwatch.Metric:
        """Writes of the rescue secret (Sum)."""
        return refresher_metric(mn.RESCUE_WRITES, statistic="Sum", period=period)

    def metric_lost_answer_resends(self, period: Duration | None = None) -> cloudwatch.Metric:
        """Refresh requests resent once because the first answer was lost (Sum)."""
        return refresher_metric(mn.LOST_ANSWER_RESENDS, statistic="Sum", period=period)
