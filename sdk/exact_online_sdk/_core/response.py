"""Reading responses: status classification into typed errors, and unwrapping of Exact's OData v2 envelopes.

Envelopes accepted: ``{"d":{"results":[...],"__next":..,"__count":"n"}}``, ``{"d":[...]}``, ``{"d":{...}}``,
an empty body (204), and a bare number (``/$count``). ``__metadata`` is stripped from every entity (also inside
expanded navigation lists); ``{"__deferred":{"uri":..}}`` navigation links are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from .. import edm
from ..exceptions import APIError, RateLimitError, UnexpectedResponseError, error_class_for_status
from .ratelimit import parse_rate_limit_headers

__all__ = ["Body", "RawResponse", "error_for_response", "parse_body", "strip_metadata"]

_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What the shell got back from the wire (headers with lower-case names)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(slots=True)
class Body:
    """A parsed success body.

    ``kind`` is ``"collection"`` (``rows``, ``next_url``, ``count``), ``"entity"`` (``entity``), ``"empty"``
    or ``"value"`` (a bare JSON value such as a ``/$count`` integer, in ``value``).
    """

    kind: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    entity: dict[str, Any] | None = None
    next_url: str | None = None
    count: int | None = None
    value: Any = None

    @property
    def data(self) -> Any:
        """The unwrapped ``d`` in Python form: a list, a dict, a scalar or None."""
        if self.kind == "collection":
            return self.rows
        if self.kind == "entity":
            return self.entity
        return self.value


def strip_metadata(value: Any) -> Any:
    """Drop ``__metadata`` from an entity and from entities inside expanded ``{"results": [...]}`` lists."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "__metadata":
                continue
            if key == "__deferred":
                out[key] = item
            elif isinstance(item, dict) and isinstance(item.get("results"), list):
                out[key] = {**item, "results": [strip_metadata(r) for r in item["results"]]}
            elif isinstance(item, dict) and "__metadata" in item:
                out[key] = strip_metadata(item)
            else:
                out[key] = item
        return out
    if isinstance(value, list):
        return [strip_metadata(v) for v in value]
    return value


def _strip_rows(rows: list[Any], content: bytes) -> list[Any]:
    """``strip_metadata`` over a page's rows. When the page holds exactly one ``__metadata`` per row (nothing
    expanded), deleting that key from each freshly decoded row is the same, at a fraction of the cost."""
    if content.count(b'"__metadata"') == len(rows) and all(map(isinstance, rows, repeat(dict))):
        dropped = list(map(dict.pop, rows, repeat("__metadata"), repeat(None)))
        if None not in dropped:
            return rows
    return [strip_metadata(r) for r in rows]


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _excerpt(content: bytes) -> str:
    text = content[:_EXCERPT].decode("utf-8", errors="replace")
    return " ".join(text.split())


def _unexpected(response: RawResponse, why: str, *, retryable: bool, **ctx: Any) -> UnexpectedResponseError:
    ctype = _content_type(response.headers) or None
    return UnexpectedResponseError(
        f"{why} (content type {ctype or 'missing'}): {_excerpt(response.content)!r}",
        status_code=response.status_code,
        content_type=ctype,
        excerpt=_excerpt(response.content),
        retryable=retryable,
        **ctx,
    )


def _parse_count(raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def parse_body(response: RawResponse, **ctx: Any) -> Body:
    """Parse a 2xx body; raise UnexpectedResponseError (never a JSON crash) for anything but Exact's JSON."""
    content = response.content
    if response.status_code == 204 or not content.strip():
        return Body(kind="empty")
    ctype = _content_type(response.headers)
    if ctype and "json" not in ctype:
        if ctype in ("text/plain",) and content.strip().isdigit():
            return Body(kind="value", value=int(content.strip()))  # GET .../$count
        transient = ctype.startswith("text/html")
        kind = "Atom XML (was Accept: application/json dropped?)" if "xml" in ctype else "not JSON"
        raise _unexpected(response, f"Exact answered {response.status_code} with {kind}", retryable=transient, **ctx)
    try:
        doc = edm.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _unexpected(
            response,
            f"invalid or truncated JSON ({exc.msg if isinstance(exc, json.JSONDecodeError) else 'bad UTF-8'})",
            retryable=True,
            **ctx,
        ) from None
    if isinstance(doc, (int, str)) and not isinstance(doc, bool):
        return Body(kind="value", value=doc)
    if not isinstance(doc, dict) or "d" not in doc:
        raise _unexpected(response, "JSON without the OData 'd' envelope", retryable=False, **ctx)
    d = doc["d"]
    if isinstance(d, list):
        return Body(kind="collection", rows=_strip_rows(d, content))
    if isinstance(d, dict) and isinstance(d.get("results"), list):
        return Body(
            kind="collection",
            rows=_strip_rows(d["results"], content),
            next_url=d.get("__next") or None,
            count=_parse_count(d.get("__count")),
        )
    if isinstance(d, dict):
        return Body(kind="entity", entity=strip_metadata(d))
    return Body(kind="value", value=d)


def _exact_message(content: bytes) -> tuple[str | None, str | None]:
    """Exact's ``{"error":{"code":"","message":{"value":...}}}`` (or the OAuth form) -> (message, code)."""
    if not content.strip():
        return None, None
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return _excerpt(content) or None, None
    if not isinstance(doc, dict):
        return None, None
    err = doc.get("error")
    if isinstance(err, dict):
        msg = err.get("message")
        text = msg.get("value") if isinstance(msg, dict) else msg
        return (str(text) if text else None), (str(err.get("code")) if err.get("code") else None)
    if isinstance(err, str):  # OAuth style
        desc = doc.get("error_description")
        return (f"{err}: {desc}" if desc else err), err
    return None, None


def error_for_response(response: RawResponse, *, method: str, url: str, context: dict[str, Any]) -> APIError:
    """The typed error for a non-2xx answer."""
    status = response.status_code
    message, code = _exact_message(response.content)
    reason = response.headers.get("reason")
    cls = error_class_for_status(status)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "method": method,
        "url": url,
        "reason": reason,
        "error_code": code,
        "context": context,
    }
    if cls is RateLimitError:
        limits = parse_rate_limit_headers(response.headers)
        daily = limits.daily_remaining == 0
        reset = limits.daily_reset if daily else limits.minutely_reset
        return RateLimitError(message, reset_at=reset, limit="daily" if daily else "minutely", **kwargs)
    if status == 408:
        kwargs["retryable"] = True
    return cls(message, **kwargs)
