"""LandingBucket: where workers land the rows they sync (``exact_online_sdk.scale.S3Sink``, the Prefect flow).

Rows land as gzip JSON lines under ``<prefix>/connection=<c>/division=<d>/endpoint=<e>/run=<id>/`` with a manifest
per run. The bucket:
- blocks every public access and refuses plain HTTP (a bucket policy denies ``aws:SecureTransport = false``);
- is encrypted with S3-managed keys (SSE-S3): every worker may read and write without a KMS grant, and no KMS
  request is billed per object; a customer key adds nothing a worker's IAM scope does not already enforce here
  (the rows are as readable as the token that fetched them);
- keeps versions: a worker has no delete right, and a rewritten part (a crashed run redone by the next holder) or a
  mistaken overwrite keeps its previous version for ``noncurrent_days``;
- expires landed runs after ``retention_days`` (downstream loads them within hours; what is older is history the
  warehouse already holds), and aborts unfinished multipart uploads after a week.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.acknowledgements import acknowledge

LANDING_PREFIX = "exact-online"
"""The key prefix workers land under (``S3Sink``'s default); the worker policy grants it only."""
LANDING_OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject"]
"""What ``S3Sink`` does to objects under the prefix: parts and manifests (conditional puts), reading them back, and
``HeadObject`` when it recovers a crashed run (covered by ``s3:GetObject``). Never a delete."""
LANDING_LIST_ACTIONS = ["s3:ListBucket"]
"""``ListObjectsV2`` under the prefix (a crashed run's parts, the manifests)."""
LANDING_ENV = "LANDING_BUCKET"
"""The variable the Prefect flow reads the bucket name from (examples/prefect_flow.py)."""


class LandingBucket(Construct):
    """The landing bucket and the grant a worker needs: put, get and list under ``prefix``, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str = LANDING_PREFIX,
        retention_days: int = 90,
        noncurrent_days: int = 30,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        if retention_days < 1 or noncurrent_days < 1:
            raise ValueError("retention_days and noncurrent_days must be at least 1")
        self.prefix = prefix.strip("/")
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldRuns",
                    prefix=f"{self.prefix}/",
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                ),
                s3.LifecycleRule(
                    id="AbortUnfinishedUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                    expired_object_delete_marker=True,
                ),
            ],
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Object-level access is audited with CloudTrail data events where the account wants them; server access "
            "logs would need a second bucket per stack for the same record.",
        )
        for rule, reason in {
            "CKV_AWS_18": "Access logging: CloudTrail data events (see AwsSolutions-S1's reason).",
            "CKV_AWS_144": "Landed rows are re-synced from Exact on loss; cross-region replication doubles the cost.",
            "CKV_AWS_145": "SSE-S3 on purpose: workers need no KMS grant and no KMS request is billed per object.",
        }.items():
            acknowledge(self.bucket, rule, reason)

    @property
    def bucket_name(self) -> str:
        return self.bucket.bucket_name

    def grant_landing(self, grantee: iam.IGrantable) -> iam.Grant:
        """Put and get objects under the prefix, list the prefix (no delete, no other key, no bucket setting)."""
        objects = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=LANDING_OBJECT_ACTIONS,
            resource_arns=[self.bucket.arn_for_objects(f"{self.prefix}/*")],
        )
        listing = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=LANDING_LIST_ACTIONS,
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.prefix}/*"]}},
        )
        return objects.combine(listing)
