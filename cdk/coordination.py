"""CoordinationTable: the DynamoDB table the refresher and the workers coordinate through.

Items: partition key ``pk`` (S), sort key ``sk`` (S), TTL attribute ``expires_at`` (N, epoch seconds), on-demand.
The refresher's lease is the item ``pk = "lease#<slot A secret id>"``, ``sk = "refresher"``, taken by a conditional
write (free or expired) and fenced by the token generation: two invocations never call Exact at once, which is
why the refresher needs no reserved concurrency. The webhook receiver remembers deliveries as
``pk = "webhook#<sha256 of Content>"``, ``sk = "delivery"`` (replays are dropped across all its containers). Its
name reaches the functions as ``EXACT_COORDINATION_TABLE``.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk.acknowledgements import acknowledge

LEASE_PREFIX = "lease#"
WORKER_PREFIXES = ("budget#", "cursor#")
"""Partition-key prefixes of the workers' items: ``exact_online_sdk.scale``'s rate budget and sync cursors."""
WEBHOOK_PREFIX = "webhook#"
ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
]
"""Every item action: the refresher's lease (a conditional put, update and delete), and what the workers are denied
on the lease items."""
WORKER_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"]
"""What ``exact_online_sdk.scale`` calls on its items, and all it calls: the rate budget's conditional updates and
its read of the daily item; a cursor's lease, saves and release (conditional updates), its ``state`` (GetItem) and
the connection's ``states`` (Query). No put, delete or transaction: tests/integration/scale/test_worker_grant.py
records a worker's calls and fails if one needs more."""


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

    def grant_webhook_deliveries(self, grantee: iam.IGrantable) -> iam.Grant:
        """Claim and forget webhook deliveries only (conditional put and delete of ``webhook#`` items)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
            resource_arns=[self.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{WEBHOOK_PREFIX}*"]}},
        )

    def grant_shared_items(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read and write the workers' items only: the shared rate budget (``budget#``) and the sync cursors with
        their leases (``cursor#``, queried by partition); the refresher's ``lease#`` items are denied outright."""
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=WORKER_ITEM_ACTIONS,
            resource_arns=[self.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{p}*" for p in WORKER_PREFIXES]}},
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=ITEM_ACTIONS,
                resources=[self.table.table_arn],
                conditions={"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [f"{LEASE_PREFIX}*"]}},
            )
        )
        return grant
