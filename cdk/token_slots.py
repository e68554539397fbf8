"""TokenSlots: where the token lives. A KMS key, the two token slots written in turn, the rescue secret and the
client-credentials secret, all created without a value; who may write them; grants to read them.

See ../shared/aws/NOTES.md for why the token is double-buffered over two secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import DefaultStackSynthesizer, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from cdk.acknowledgements import acknowledge

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
    """The secrets of the token chain and their key. Workers get ``grant_read``; writers ``grant_put``."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
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
        for secret in (*self.slots, self.rescue_secret, self.client_secret):
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "Native rotation (4 h minimum) cannot keep a 10-minute OAuth token valid: the refresher Lambda "
                "rotates the token every ~10 minutes into the two slots in turn; the client secret is rotated "
                "at Exact by the operator.",
            )

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
    def deny_writes_except(self, secret: sm.Secret, principal_arns: Sequence[str]) -> None:
        """Deny every principal but ``principal_arns`` (and, for UpdateSecret, the deploy role) the write actions."""
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
        secret.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUpdateExceptTokenWritersAndDeployer",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["secretsmanager:UpdateSecret"],
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": [*principal_arns, *self._deployer_arns()]}},
            )
        )

    def _deployer_arns(self) -> list[str]:
        synthesizer = Stack.of(self).synthesizer
        if isinstance(synthesizer, DefaultStackSynthesizer):
            return [Fn.sub(synthesizer.cloud_formation_execution_role_arn)]
        return []
