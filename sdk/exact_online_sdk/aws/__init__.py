"""Exact Online on AWS: the double-buffered Secrets Manager token store, the refresher core and worker tokens.

Needs the ``[aws]`` extra (boto3). Names are loaded on first use so importing this package stays cheap.

- :class:`SecretsManagerTokenStorage`: the token state in two secrets written in turn (DESIGN decision 6);
  read-only unless built with ``writable=True`` (the refresher and the bootstrap).
- :class:`TokenRefresher`: the single writer, run every minute by ``lambdas/refresher``
  (:meth:`TokenRefresher.from_settings`); :class:`RefresherLease` and the call books coordinate it in DynamoDB.
- :class:`SecretsManagerTokenProvider` and :func:`worker_client`: read-only tokens for ECS/Prefect/Lambda workers.
- :class:`BootstrapFlow`: the authorization-code flow behind the bootstrap Function URL (``lambdas/bootstrap``).
- :func:`make_secretsmanager_client`, :func:`load_app_credentials`: the plumbing the Lambda handlers share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._boto import AwsExtraMissing, make_secretsmanager_client
    from .app_credentials import AppCredentials, load_app_credentials
    from .bootstrap import BootstrapFlow, flow_from_env, handle_event
    from .lease import DynamoCallBook, MemoryCallBook, RefresherLease
    from .refresher import (
        MetricsSink,
        RecordingMetrics,
        RefreshFailed,
        RefreshOutcome,
        RefreshPolicy,
        TokenRefresher,
    )
    from .rescue import RescueRecord, RescueStore
    from .slots import SecretsManagerTokenStorage
    from .worker import SecretsManagerTokenProvider, worker_client, worker_token_provider

__all__ = [
    "AppCredentials",
    "AwsExtraMissing",
    "BootstrapFlow",
    "DynamoCallBook",
    "MemoryCallBook",
    "MetricsSink",
    "RecordingMetrics",
    "RefreshFailed",
    "RefreshOutcome",
    "RefreshPolicy",
    "RefresherLease",
    "RescueRecord",
    "RescueStore",
    "SecretsManagerTokenProvider",
    "SecretsManagerTokenStorage",
    "TokenRefresher",
    "flow_from_env",
    "handle_event",
    "load_app_credentials",
    "make_secretsmanager_client",
    "worker_client",
    "worker_token_provider",
]

_LAZY = {
    "AwsExtraMissing": "._boto",
    "make_secretsmanager_client": "._boto",
    "AppCredentials": ".app_credentials",
    "load_app_credentials": ".app_credentials",
    "BootstrapFlow": ".bootstrap",
    "flow_from_env": ".bootstrap",
    "handle_event": ".bootstrap",
    "DynamoCallBook": ".lease",
    "MemoryCallBook": ".lease",
    "RefresherLease": ".lease",
    "MetricsSink": ".refresher",
    "RecordingMetrics": ".refresher",
    "RefreshFailed": ".refresher",
    "RefreshOutcome": ".refresher",
    "RefreshPolicy": ".refresher",
    "TokenRefresher": ".refresher",
    "RescueRecord": ".rescue",
    "RescueStore": ".rescue",
    "SecretsManagerTokenStorage": ".slots",
    "SecretsManagerTokenProvider": ".worker",
    "worker_client": ".worker",
    "worker_token_provider": ".worker",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
