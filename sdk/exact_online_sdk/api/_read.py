"""Reading a page as rows inside the client's request flow, so each page is decoded once.

The client's default reader (:func:`exact_online_sdk._core.response.parse_body`) makes dicts; the typed endpoints
give the client this one instead. It decodes a collection page straight into rows; anything else (an error page,
Atom XML, truncated JSON, a single entity) goes to the default reader, which raises the client's usual errors, and
what it returns is then turned into rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import msgspec

from .._core.response import Body, RawResponse, parse_body, unexpected_body
from ..edm import JSONFormatError
from ..exceptions import ExactOnlineError, UnexpectedResponseError
from ..models._row import ExactRow, NotAPage, parse_rows, row_from_dict

__all__ = ["row_parser"]


@cache
def row_parser(cls: type[ExactRow]) -> Callable[..., Body]:
    """The body reader giving rows of ``cls`` (one per row class)."""

    def parse(response: RawResponse, **context: Any) -> Body:
        try:
            return read(response, context)
        except (ExactOnlineError, RecursionError) as exc:
            if isinstance(exc, UnexpectedResponseError):
                raise  # the default reader's error already names the request
            # A value of the wrong type (EdmValueError names the field), a body that is no page: typed, with the
            # request and an excerpt, and not retried (the same body would come back).
            why = f"the page does not read as {cls.__name__} rows: {exc}"
            raise unexpected_body(response, why[:500], retryable=False, **context) from None

    def read(response: RawResponse, context: dict[str, Any]) -> Body:
        if response.too_large or response.decode_error:
            return parse_body(response, **context)  # raises the client's error for it
        if response.status_code == 200 and "json" in response.headers.get("content-type", "json"):
            try:
                page = parse_rows(cls, response.content)
            except (msgspec.DecodeError, NotAPage, JSONFormatError):
                pass  # the default reader explains it (retrying what may be truncated), or reads what is no page
            else:
                return Body(kind="collection", rows=page.rows, next_url=page.next_url, count=page.count)  # type: ignore[arg-type]
        body = parse_body(response, **context)
        if body.kind == "collection":
            body.rows = [row_from_dict(cls, row) for row in body.rows]  # type: ignore[misc]
        elif body.kind == "entity" and body.entity is not None:
            body.entity = row_from_dict(cls, body.entity)  # type: ignore[assignment]
        return body

    return parse
