"""Exact Online on AWS: the double-buffered Secrets Manager token store, the refresher core and worker tokens.

Needs the ``[aws]`` extra (boto3). Names are loaded on first use so importing this package stays cheap.

- :class:`SecretsManagerTokenStorage`: the token state in two secrets written in turn (DESIGN decision 6).
- :class:`TokenRefresher`: the single writer, run every minute by ``lambdas/refresher``.
- :class:`SecretsManagerTokenProvider` and :func:`worker_client`: read-only tokens for ECS/Prefect/Lambda workers.
- :class:`BootstrapFlow`: the authorization-code flow behind the bootstrap Function URL (``lambdas/bootstrap``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .bootstrap import BootstrapFlow
    from .refresher import RecordingMetrics, RefreshFailed, RefreshOutcome, RefreshPolicy, TokenRefresher
    from .rescue import RescueRecord, RescueStore
    from .slots import SecretsManagerTokenStorage
    from .worker import SecretsManagerTokenProvider, worker_client, worker_token_provider

__all__ = [
    "BootstrapFlow",
    "RecordingMetrics",
    "RefreshFailed",
    "RefreshOutcome",
    "RefreshPolicy",
    "RescueRecord",
    "RescueStore",
    "SecretsManagerTokenProvider",
    "SecretsManagerTokenStorage",
    "TokenRefresher",
    "worker_client",
    "worker_token_provider",
]

_LAZY = {
    "BootstrapFlow": ".bootstrap",
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
