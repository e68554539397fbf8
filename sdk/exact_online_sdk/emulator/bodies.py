"""Reading request bodies: a size cap before anything is parsed, and JSON read with the SDK's bounded parser.

Exact's front end is IIS, whose default request limit is 30,000,000 bytes [U: Exact's own setting was never
captured]; the emulator refuses larger bodies with 413 while streaming them in, so a hostile POST cannot fill its
memory. Bodies are parsed with :func:`exact_online_sdk.edm.loads`, whose number bounds (Edm.Double, Int64) keep a
42-byte ``{"Amount": 1e100000000}`` from costing seconds of CPU on the event loop: it is refused with 400 at once.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request

from ..edm import JSONFormatError, loads
from .exceptions import ApiError

__all__ = ["MAX_REQUEST_BODY", "control_json", "read_body", "request_json"]

MAX_REQUEST_BODY: Final = 30_000_000
"""The largest request body read (IIS's default ``maxAllowedContentLength``)."""

_TOO_LARGE = "The request body is larger than the server accepts."


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The whole body, or ApiError 413 as soon as it (or its announced length) passes ``limit``."""
    cap = MAX_REQUEST_BODY if limit is None else limit
    announced = request.headers.get("content-length", "")
    if announced.isascii() and announced.isdigit() and len(announced) <= 19 and int(announced) > cap:
        raise ApiError(413, _TOO_LARGE)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise ApiError(413, _TOO_LARGE)
        parts.append(chunk)
    return b"".join(parts)


def request_json(raw: bytes) -> Any:
    """A REST request body as the SDK reads JSON (numbers as exact Decimals within Exact's ranges), or ApiError 400
    in the words of Exact's OData service."""
    try:
        return loads(raw) if raw.strip() else None
    except JSONFormatError as exc:
        if exc.kind == "number":
            raise ApiError(
                400, f"Error processing request stream. A number is out of range for Edm.Double and Edm.Int64: {exc}"
            ) from None
        raise ApiError(400, "Error processing request stream. The request body is not valid JSON.") from None


def control_json(raw: bytes) -> dict[str, Any]:
    """A control-API body (plain JSON: floats stay floats for the tests that steer the emulator); an object or {}."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "The control request body is not valid JSON.") from None
    return data if isinstance(data, dict) else {}
