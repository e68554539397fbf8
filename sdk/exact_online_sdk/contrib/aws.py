"""The seed package's AWS names: ``from exact_online_sdk.contrib.aws import SecretsManagerTokenStorage,
ReadOnlyTokenStorage``.

``SecretsManagerTokenStorage(name, region_name=...)`` is the double-buffered store of
:mod:`exact_online_sdk.aws.slots` (secrets ``{name}-a`` and ``{name}-b``), read-only unless built with
``writable=True`` (only the refresher and the bootstrap write it); ``ReadOnlyTokenStorage`` is the one read-only
token source workers use over it. Needs the ``[aws]`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ..aws.slots import SecretsManagerTokenStorage
    from ..aws.worker import SecretsManagerTokenProvider, worker_client

__all__ = ["ReadOnlyTokenStorage", "SecretsManagerTokenProvider", "SecretsManagerTokenStorage", "worker_client"]  # noqa: F822

_LAZY = {
    "SecretsManagerTokenStorage": "..aws.slots",
    "SecretsManagerTokenProvider": "..aws.worker",
    "worker_client": "..aws.worker",
    "ReadOnlyTokenStorage": "..auth",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
