"""CoordinationTable: the DynamoDB table the refresher and the workers coordinate through.

Items: partition key ``pk`` (S), sort key ``sk`` (S), TTL attribute ``expires_at`` (N, epoch seconds), on-demand.
The refresher's lease is the item ``pk = "lease#<slot A secret id>"``, ``sk = "refresher"``, taken by a conditional
write (free or expired) and fenced by the token generation: two invocations never call Exact at once, which is
why the refresher needs no reserved concurrency. Its name reaches the functions as ``EXACT_COORDINATION_TABLE``.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.acknowledgements import acknowledge

LEASE_PREFIX = "lease#"
ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
]


class CoordinationTable(Construct):
    """The table, and item-level grants scoped by partition key (``dynamodb:LeadingKeys``)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Every item is short-lived (a lease, a rate-limit window) and carries a TTL: nothing to keep.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.table,
            "CKV_AWS_119",
            "Leases and rate-limit windows hold no secret or business data; DynamoDB encrypts them at rest with an "
            "AWS-owned key. A customer key would need a KMS grant for every worker.",
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def grant_lease(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read and write the lease items only (partition keys starting with ``lease#``)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=ITEM_ACTIONS,
            resource_arns=[self.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{LEASE_PREFIX}*"]}},
        )

    def grant_shared_items(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read and write every item except the refresher's lease (for workers: the shared rate budget)."""
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=ITEM_ACTIONS, resource_arns=[self.table.table_arn])
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=ITEM_ACTIONS,
                resources=[self.table.table_arn],
                conditions={"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [f"{LEASE_PREFIX}*"]}},
            )
        )
        return grant
