"""The wire format: Exact's JSON envelopes and entity shape, error bodies, and the HTTP responses built from them.

- an entity: ``{"__metadata":{"uri":..,"type":..}, <fields>, <nav>: {"__deferred":{"uri":..}}}`` (FACTS §3.2);
- a collection: ``{"d":{"results":[..],"__next":..,"__count":"n"}}``; one entity: ``{"d":{..}}``;
- errors: :class:`.exceptions.ApiError` bodies; the token endpoint's OAuth bodies.
Atom XML lives in :mod:`.atom`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from .exceptions import ApiError

__all__ = [
    "ApiResult",
    "collection",
    "dumps",
    "entity",
    "error_response",
    "json_response",
    "single",
    "unsupported_media_type",
]


@dataclass
class ApiResult:
    """What the REST rules answer: status, body bytes, content type, and the payload behind the body."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    payload: Any = None  # the object behind ``body`` (for Atom rendering)


def dumps(obj: Any) -> bytes:
    """Compact JSON, UTF-8, as Exact sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def entity(uri: str, type_name: str, values: dict[str, Any], links: dict[str, Any]) -> dict[str, Any]:
    """One entity: ``__metadata`` first, then the values, then navigation properties (deferred or expanded)."""
    out: dict[str, Any] = {"__metadata": {"uri": uri, "type": type_name}}
    out.update(values)
    out.update(links)
    return out


def deferred(uri: str) -> dict[str, Any]:
    """A navigation property that was not expanded."""
    return {"__deferred": {"uri": uri}}


def collection(
    rows: list[dict[str, Any]], *, count: int | None = None, next_url: str | None = None, status: int = 200
) -> ApiResult:
    """``{"d":{"results":[..]}}`` with ``__count`` (a string) and ``__next`` when given."""
    d: dict[str, Any] = {"results": rows}
    if count is not None:
        d["__count"] = str(count)
    if next_url is not None:
        d["__next"] = next_url
    payload = {"d": d}
    return ApiResult(status, dumps(payload), payload=payload)


def bare_collection(rows: list[dict[str, Any]]) -> ApiResult:
    """``{"d":[..]}``: the bare-array form of a collection."""
    payload = {"d": rows}
    return ApiResult(200, dumps(payload), payload=payload)


def single(row: dict[str, Any], status: int = 200) -> ApiResult:
    """``{"d":{..}}``: one entity."""
    payload = {"d": row}
    return ApiResult(status, dumps(payload), payload=payload)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (control API and token endpoint)."""
    return Response(json.dumps(obj).encode(), status, headers, media_type="application/json")


def unsupported_media_type(headers: dict[str, str] | None = None) -> Response:
    """415 for an ``Accept`` Exact does not serve (``application/xml``), in WCF Data Services' XML error form."""
    body = (
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
        '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><code></code>'
        '<message xml:lang="en-US">Unsupported media type requested.</message></error>'
    )
    return Response(body.encode(), 415, headers, media_type="application/xml")


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    """Exact's error answer, with the rate-limit headers of the call when it was counted."""
    merged = {**(headers or {}), **exc.headers}
    if exc.message is None:
        return Response(b"", exc.status, merged)
    return Response(exc.body(), exc.status, merged, media_type="application/json")
