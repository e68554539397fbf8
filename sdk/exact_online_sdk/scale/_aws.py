"""boto3 plumbing for the scale-out pieces: clients with short timeouts, the coordination table, error sorting."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..aws._boto import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = [
    "create_coordination_table",
    "error_code",
    "is_aws_failure",
    "is_conditional_failure",
    "make_dynamodb_client",
    "make_s3_client",
]


def _config(connect_timeout: float, read_timeout: float, attempts: int) -> Any:
    try:
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("the scale-out pieces need boto3: pip install 'exact-online-toolkit[aws]'") from exc
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        user_agent_extra="exact-online-toolkit",
    )


def _region(region_name: str | None) -> str | None:
    return region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def make_dynamodb_client(
    region_name: str | None = None,
    *,
    endpoint_url: str | None = None,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
    attempts: int = 1,
) -> DynamoDBClient:
    """A DynamoDB client that fails fast: a coordination call takes milliseconds, so one that does not answer within
    two seconds means DynamoDB is in trouble, and the rate budget falls back instead of waiting. One attempt by
    default (botocore's retries sleep in real time, which a virtual-clock run cannot follow); the cursor store, which
    cannot fall back, asks for three."""
    import boto3

    return boto3.session.Session().client(
        "dynamodb",
        region_name=_region(region_name),
        endpoint_url=endpoint_url,
        config=_config(connect_timeout, read_timeout, attempts),
    )


def make_s3_client(
    region_name: str | None = None,
    *,
    endpoint_url: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> S3Client:
    """An S3 client for landing rows (an upload of a few MB may take a while; botocore retries 3 times)."""
    import boto3

    return boto3.session.Session().client(
        "s3",
        region_name=_region(region_name),
        endpoint_url=endpoint_url,
        config=_config(connect_timeout, read_timeout, 3),
    )


def is_conditional_failure(exc: BaseException) -> bool:
    """A conditional write that found the item otherwise: an answer, not a failure."""
    return error_code(exc) == "ConditionalCheckFailedException"


def is_aws_failure(exc: BaseException) -> bool:
    """Anything boto3 raises for a call that did not get a normal answer (throttling, 5xx, timeouts, no
    connection, no credentials, a missing table, no permission)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, BotoCoreError | ClientError)


def create_coordination_table(client: DynamoDBClient, name: str) -> None:
    """Create the coordination table as the stack does (``pk``/``sk`` strings, on-demand, TTL on ``expires_at``):
    for local runs against moto or DynamoDB Local. In AWS the stack owns the table."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
