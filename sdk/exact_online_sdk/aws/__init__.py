"""Exact Online on AWS: the double-buffered Secrets Manager token store, the refresher core and worker tokens.

Needs the ``[aws]`` extra (boto3). Names are loaded on first use so importing this package stays cheap.

- :class:`SecretsManagerTokenStorage`: the token state in two secrets written in turn (DESIGN decision 6).
- :class:`TokenRefresher`: the single writer, run every minute by ``lambdas/refresher``.
- :class:`SecretsManagerTokenProvider` and :func:`worker_client`: read-only tokens for ECS/Prefect/Lambda workers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .refresher import RecordingMetrics, RefreshFailed, RefreshOutcome, RefreshPolicy, TokenRefresher
    from .rescue import RescueRecord, RescueStore
    from .slots import SecretsManagerTokenStorage
    from .worker import SecretsManagerTokenProvider, worker_client

__all__ = [
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
]

_LAZY = {
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
