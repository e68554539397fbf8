"""boto3 plumbing shared by the slot store, the rescue store and the lease: clients and error classification.

Only botocore's own errors are AWS failures; everything else (a missing boto3, a bug) propagates as itself, so a
missing extra says "install the aws extra" instead of looking like a damaged token store.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from ..auth.store import TokenStoreError
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = [
    "AwsExtraMissing",
    "aws_errors",
    "error_code",
    "is_retryable",
    "make_client",
    "make_secretsmanager_client",
    "resolve_region",
]

INSTALL_HINT = "install the aws extra: pip install 'exact-online-toolkit[aws]'"


class AwsExtraMissing(ConfigError):
    """boto3/botocore are not installed: the AWS token store, the refresher and the lease need them."""

    def __init__(self, what: str = "the AWS token store") -> None:
        super().__init__(f"{what} needs boto3, which is not installed; {INSTALL_HINT}", variable=None)


@functools.cache
def aws_errors() -> tuple[type[BaseException], ...]:
    """The exception classes that mean "AWS (or the way to it) failed": botocore's ClientError and BotoCoreError."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise AwsExtraMissing() from exc
    return (ClientError, BotoCoreError)


_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def resolve_region(region_name: str | None) -> str:
    """The explicit region, else the environment's (AWS_REGION, AWS_DEFAULT_REGION); a clear error otherwise."""
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise TokenStoreError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or pass region_name=")
    return region


def make_client(
    service: str, region_name: str | None = None, *, endpoint_url: str | None = None, read_timeout: float = 10
) -> Any:
    """A boto3 client with short timeouts and no botocore retries: the callers retry on the injected clock and
    within the Lambda's remaining time (botocore would sleep in real time)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise AwsExtraMissing() from exc
    config = Config(
        connect_timeout=5,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": 0},
        user_agent_extra="exact-online-toolkit",
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=resolve_region(region_name),
        endpoint_url=endpoint_url,
        config=config,
    )


def make_secretsmanager_client(
    region_name: str | None = None, *, endpoint_url: str | None = None
) -> SecretsManagerClient:
    """A Secrets Manager client (see :func:`make_client`)."""
    client: SecretsManagerClient = make_client("secretsmanager", region_name, endpoint_url=endpoint_url)
    return client


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_retryable(exc: BaseException) -> bool:
    """Throttling, AWS-side 5xx and connection failures: safe to retry with the same request."""
    code = error_code(exc)
    if code is not None:
        return code in _RETRYABLE_CODES
    try:
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, ConnectionClosedError | ConnectTimeoutError | EndpointConnectionError | ReadTimeoutError)
