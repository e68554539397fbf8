"""Redaction of secrets from URLs and free text (used by exceptions, log lines and reprs).

Secrets are bearer tokens, refresh tokens, client secrets, webhook secrets and authorization codes. They are
removed by *shape* (``Bearer x``, ``code=x``, ``"refresh_token": "x"``) and, when registered with
:func:`register_secret`, by *value* as well, so a secret can never leak through an unexpected message.
"""

from __future__ import annotations

import re
import threading
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url", "register_secret"]

MASK: Final = "***"

_SENSITIVE_KEYS: Final = (
    "access_token",
    "refresh_token",
    "client_secret",
    "webhook_secret",
    "code",
    "token",
    "password",
    "secret",
    "authorization",
    "id_token",
    "encryption_key",
)
_KEYS_RE: Final = "|".join(sorted(_SENSITIVE_KEYS, key=len, reverse=True))

# key=value in query strings and form bodies; "key": "value" in JSON; key: value in headers.
_PATTERNS: Final = (
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/!]+=*"),
    re.compile(rf"(?i)(?<![A-Za-z0-9_])({_KEYS_RE})=([^&\s\"',;]+)"),
    re.compile(rf"(?i)([\"']({_KEYS_RE})[\"']\s*:\s*)[\"'][^\"']*[\"']"),
    re.compile(rf"(?i)(?<![A-Za-z0-9_\"'])({_KEYS_RE})(\s*:\s+)(?![\"'])(\S+)"),
)

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Also mask this exact value wherever it appears (values shorter than 6 characters are ignored)."""
    if value and len(value) >= 6:
        with _lock:
            _registered.add(value)


def _mask_registered(text: str) -> str:
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_text(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``***``."""
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _PATTERNS[2].sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    text = _PATTERNS[3].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _mask_registered(text)


def redact_url(url: str) -> str:
    """``url`` without user info and with sensitive query parameters masked (OData options are kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SENSITIVE_KEYS for k, _ in pairs):
            query = urlencode([(k, MASK if k.lower() in _SENSITIVE_KEYS else v) for k, v in pairs], safe="$'(),*:")
    return _mask_registered(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
