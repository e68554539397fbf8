"""boto3 plumbing shared by the slot store and the rescue store: client creation and error classification."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..auth.store import TokenStoreError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["error_code", "is_retryable", "make_secretsmanager_client", "resolve_region"]

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


def make_secretsmanager_client(
    region_name: str | None = None, *, endpoint_url: str | None = None
) -> SecretsManagerClient:
    """A Secrets Manager client with short timeouts and no botocore retries: the stores retry on the injected
    clock (botocore would sleep in real time, which a scaled-clock run cannot follow)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("the AWS token store needs boto3: pip install 'exact-online-toolkit[aws]'") from exc
    config = Config(
        connect_timeout=5,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 0},
        user_agent_extra="exact-online-toolkit",
    )
    return boto3.session.Session().client(
        "secretsmanager", region_name=resolve_region(region_name), endpoint_url=endpoint_url, config=config
    )


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
