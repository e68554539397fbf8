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

from .._core.response import Body, RawResponse, parse_body
from ..models._row import ExactRow, NotAPage, parse_rows, row_from_dict

__all__ = ["row_parser"]


@cache
def row_parser(cls: type[ExactRow]) -> Callable[..., Body]:
    """The body reader giving rows of ``cls`` (one per row class)."""

    def parse(response: RawResponse, **context: Any) -> Body:
        if response.status_code == 200 and "json" in response.headers.get("content-type", "json"):
            try:
                page = parse_rows(cls, response.content)
            except (msgspec.DecodeError, NotAPage):
                pass  # the default reader explains it, or reads what is not a collection
            else:
                return Body(kind="collection", rows=page.rows, next_url=page.next_url, count=page.count)  # type: ignore[arg-type]
        body = parse_body(response, **context)
        if body.kind == "collection":
            body.rows = [row_from_dict(cls, row) for row in body.rows]  # type: ignore[misc]
        elif body.kind == "entity" and body.entity is not None:
            body.entity = row_from_dict(cls, body.entity)  # type: ignore[assignment]
        return body

    return parse
