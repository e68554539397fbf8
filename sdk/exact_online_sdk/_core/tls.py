"""One TLS context for the SDK's HTTP clients.

httpx builds a new ``ssl.SSLContext`` for every client it creates, loading the CA bundle each time (tens of
milliseconds: more than the rest of a client's construction). A context is safe to share between clients and
threads, so the SDK builds the default one once, on first use, with httpx's own defaults (certifi's bundle, or
``SSL_CERT_FILE``/``SSL_CERT_DIR`` as they are set at that moment). A caller who needs other TLS settings passes
its own ``http_client``.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

__all__ = ["default_ssl_context"]


@cache
def default_ssl_context() -> ssl.SSLContext:
    """The shared context every SDK-built httpx client verifies servers with."""
    return httpx.create_ssl_context()
