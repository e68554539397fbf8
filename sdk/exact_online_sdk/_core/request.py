"""Building requests: base-URL checks, path resolution from the endpoint registry, query encoding, headers."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from .. import edm
from .._version import __version__
from ..exceptions import ConfigError, InvalidHeaderError, InvalidPathError
from .body import ACCEPT_ENCODING
from .hosts import DEFAULT_BASE_URL

__all__ = [
    "DEFAULT_USER_AGENT",
    "PreparedRequest",
    "RequestSpec",
    "build_request",
    "check_header",
    "encode_query",
    "header_problem",
    "is_loopback",
    "normalize_base_url",
    "resolve_path",
    "same_origin",
]

DEFAULT_USER_AGENT = f"exact-online-toolkit/{__version__} (+python-httpx)"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
_SEGMENT_OK = re.compile(r"^[A-Za-z0-9_$.\-]+(\(.*\))?$")
# Characters kept as-is in query values: OData punctuation Exact expects to see literally.
_QUERY_SAFE = "$'(),:*/@!"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One HTTP request, ready to send (no token yet: the shell adds ``Authorization`` per attempt)."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    path: str
    """The path below the host, for logging."""


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What a caller asked for, before resolution."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    division: int | None = None
    headers: Mapping[str, str] | None = None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str, *, variable: str = "EXACT_BASE_URL") -> str:
    """``scheme://host[:port]`` without a trailing slash; http only for loopback hosts (the emulator)."""
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{variable} is not a valid URL", variable=variable) from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            f"{variable} must look like {DEFAULT_BASE_URL} (got scheme {parts.scheme!r})",
            variable=variable,
        )
    if parts.username or parts.password:
        raise ConfigError(f"{variable} must not contain credentials", variable=variable)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{variable} uses plain http on {parts.hostname!r}; only loopback hosts may (use https)",
            variable=variable,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{variable} must be a host only, without a path or query", variable=variable)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def same_origin(url: str, base_url: str) -> bool:
    """True when ``url`` is on the configured scheme, host and port."""
    try:
        a, b = urlsplit(url), urlsplit(base_url)
        return a.scheme == b.scheme and (a.hostname or "").lower() == (b.hostname or "").lower() and a.port == b.port
    except ValueError:
        return False


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not path.strip():
        raise InvalidPathError("the request path is empty")
    p = path.strip()
    if "://" in p or p.startswith("//"):
        raise InvalidPathError("give a relative path such as 'crm/Accounts', not a URL")
    p = p.strip("/")
    if p.startswith("api/v1/"):
        raise InvalidPathError("give the path without '/api/v1/{division}/', e.g. 'crm/Accounts'")
    if "?" in p or "#" in p:
        raise InvalidPathError("the path must not contain '?' or '#': pass query options as params")
    if "\\" in p or any(ord(c) < 0x20 or c == " " for c in p.split("(", 1)[0]):
        raise InvalidPathError("the path contains a backslash, space or control character")
    for segment in p.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidPathError(f"the path {p!r} has an empty, '.' or '..' segment")
        if not _SEGMENT_OK.fullmatch(segment):
            raise InvalidPathError(f"the path segment {segment!r} is not a valid Exact resource name")
    return p


def resolve_path(path: str, division: int | None) -> str:
    """``crm/Accounts`` -> ``/api/v1/{division}/crm/Accounts``; beta and division-less endpoints come from the
    registry. Unknown paths get the standard division prefix."""
    if type(path) is str and (division is None or type(division) is int):
        # Every page of a read resolves the same path: remembered (a pure function of its arguments; the checks
        # run on the first call, and refusals are raised, never remembered).
        return _resolved(path, division)
    return _resolve(path, division)


@lru_cache(maxsize=1024)
def _resolved(path: str, division: int | None) -> str:
    return _resolve(path, division)


def _resolve(path: str, division: int | None) -> str:
    from ..registry import registry  # parsed once, on first use, never at import time

    p = _check_path(path)
    endpoint = registry().get(p)
    if endpoint is not None and not endpoint.division_scoped:
        return f"/api/v1/{_quote_path(p)}"
    if division is None:
        raise ConfigError(
            f"{p.split('(', 1)[0]} needs a division: set EXACT_DIVISION or pass division=",
            variable="EXACT_DIVISION",
        )
    if isinstance(division, bool) or not isinstance(division, int) or division <= 0:
        raise ConfigError("division must be a positive integer", variable="EXACT_DIVISION")
    prefix = "/api/v1/beta" if endpoint is not None and endpoint.beta else "/api/v1"
    return f"{prefix}/{division}/{_quote_path(p)}"


def _quote_path(p: str) -> str:
    return quote(p, safe="/$'(),:=-._~")


def _format_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_format_param(v) for v in value)
    if isinstance(value, float):
        return edm.format_decimal(edm.parse_decimal(value) or 0)
    if hasattr(value, "to_odata"):
        return str(value.to_odata())
    return str(value)


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Percent-encode query options (spaces as %20, OData punctuation kept); None values are dropped."""
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        parts.append(f"{quote(str(key), safe='$')}={quote(_format_param(value), safe=_QUERY_SAFE)}")
    return "&".join(parts)


def build_headers(
    method: str,
    *,
    user_agent: str,
    language: str | None,
    has_body: bool,
    extra: Mapping[str, str] | None,
) -> dict[str, str]:
    """The headers Exact expects: JSON always, ``Prefer: return=representation`` on POST."""
    # Only the encodings the client decodes under its size cap (_core/body.py); httpx would add br/zstd if installed.
    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING, "User-Agent": user_agent}
    if has_body:
        headers["Content-Type"] = "application/json"
    if method == "POST":
        headers["Prefer"] = "return=representation"
    if language:
        headers["CustomDescriptionLanguage"] = language
    for key, value in (extra or {}).items():
        if isinstance(key, str) and key.lower() == "authorization":
            raise InvalidHeaderError("pass credentials through the client's auth, not as a header")
        if isinstance(key, str) and key.lower() in _CLIENT_HEADERS:
            raise InvalidHeaderError(f"the header {key!r} is set by the client itself")
        headers[key] = value
    return {name: check_header(name, value) for name, value in headers.items()}


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_CLIENT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})


def header_problem(name: object, value: object) -> str | None:
    """Why ``name: value`` cannot be sent as an HTTP/1.1 header field, or None (never mentions the value)."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        return "the name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)"
    if not isinstance(value, str):
        return f"the value is a {type(value).__name__}, not text"
    if not _HEADER_VALUE.fullmatch(value):
        if not value.isascii():
            return "the value has non-ASCII characters (HTTP headers carry ASCII; percent-encode or drop them)"
        return "the value has control characters (a line break, NUL or DEL)"
    return None


def check_header(name: str, value: str) -> str:
    """``value`` without surrounding whitespace, or InvalidHeaderError naming the header and the reason."""
    stripped = value.strip(" \t") if isinstance(value, str) else value
    problem = header_problem(name, stripped)
    if problem:
        shown = repr(name)[:60] if isinstance(name, str) else type(name).__name__
        raise InvalidHeaderError(f"the header {shown} cannot be sent: {problem}")
    return stripped


@lru_cache(maxsize=64)
def _client_headers(method: str, user_agent: str, language: str | None, has_body: bool) -> tuple[tuple[str, str], ...]:
    """:func:`build_headers` without extra headers, checked once per combination (every page sends the same)."""
    headers = build_headers(method, user_agent=user_agent, language=language, has_body=has_body, extra=None)
    return tuple(headers.items())


def build_request(
    spec: RequestSpec,
    *,
    base_url: str,
    default_division: int | None,
    user_agent: str = DEFAULT_USER_AGENT,
    language: str | None = None,
) -> PreparedRequest:
    """Resolve ``spec`` against the base URL (a caller's ``$format`` and other options are kept)."""
    method = spec.method.upper()
    if method not in ("GET", "POST", "PUT", "DELETE"):
        raise ValueError(f"Exact does not support HTTP method {spec.method!r}")
    division = spec.division if spec.division is not None else default_division
    path = resolve_path(spec.path, division)
    query = encode_query(spec.params)
    content = None if spec.json is None else edm.dumps(spec.json)
    if spec.headers or type(user_agent) is not str or not (language is None or type(language) is str):
        headers = build_headers(
            method, user_agent=user_agent, language=language, has_body=content is not None, extra=spec.headers
        )
    else:
        headers = dict(_client_headers(method, user_agent, language, content is not None))
    url = f"{base_url}{path}" + (f"?{query}" if query else "")
    return PreparedRequest(method=method, url=url, headers=headers, content=content, path=path)


def next_request(url: str, *, base_url: str, template: PreparedRequest) -> PreparedRequest:
    """A GET of a ``__next`` link, verbatim, with the headers of the first page."""
    return PreparedRequest(
        method="GET",
        url=url,
        headers={k: v for k, v in template.headers.items() if k != "Content-Type"},
        content=None,
        path=urlsplit(url).path,
    )
