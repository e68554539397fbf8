"""Async executors of the planned calls, over :class:`exact_online_sdk.client.AsyncExactOnlineClient`.

The original of both flavours: ``_blocking.py`` is generated from this file by ``tools/codegen.py`` (word-bounded
rules in the manner of httpcore's unasync), and a test fails when it is not current. Edit here, then
``make codegen``.

Collection reads give rows (:class:`~exact_online_sdk.models.ExactRow`), decoded once per page straight from its
bytes; ``get`` and ``create`` give the model, ready to edit; ``update`` and ``delete`` take a key, a model or a row.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from ._plan import Call, Filters, Key, M, Planner, R, wrong_client
from ._read import row_parser

if TYPE_CHECKING:
    from ..client import AsyncExactOnlineClient
    from ..models._row import ExactRow

__all__ = ["AsyncCreatable", "AsyncDeletable", "AsyncGettable", "AsyncReadable", "AsyncSinceReadable", "AsyncUpdatable"]


class _AsyncAPI(Planner[R, M]):
    _client: AsyncExactOnlineClient

    def __init__(self, client: AsyncExactOnlineClient, *, division: int | None = None) -> None:
        if not hasattr(client, "__aenter__"):
            raise TypeError(wrong_client(type(self), "AsyncExactOnlineClient"))
        super().__init__(client, division=division)

    async def _pages(self, call: Call, division: int | None, limit: int | None) -> AsyncIterator[builtins.list[R]]:
        parse = row_parser(self._row())
        pages = self._client.iter_pages(
            call.path, call.params, division=self._div(division), max_rows=limit, parse=parse
        )
        async for page in pages:
            if page.rows:
                yield cast(builtins.list[R], page.rows)


class AsyncReadable(_AsyncAPI[R, M]):
    """GET of the collection: ``list``, ``iter`` and ``iter_pages`` (rows)."""

    async def iter_pages(
        self,
        *,
        page_size: int | None = None,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
        division: int | None = None,
    ) -> AsyncIterator[builtins.list[R]]:
        """Lists of rows; Exact's own pages, or batches of ``page_size`` (Exact fixes its page size)."""
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be >= 1")
        call = self.plan_list(filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params)
        pages = self._pages(call, division, top)
        if page_size is None:
            async for rows in pages:
                yield rows
            return
        batch: builtins.list[R] = []
        async for rows in pages:
            batch.extend(rows)
            while len(batch) >= page_size:
                yield batch[:page_size]
                batch = batch[page_size:]
        if batch:
            yield batch

    async def iter(
        self,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
        division: int | None = None,
    ) -> AsyncIterator[R]:
        """Every matching row, page after page (``top`` caps the total)."""
        call = self.plan_list(filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params)
        async for rows in self._pages(call, division, top):
            for row in rows:
                yield row

    async def list(
        self,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
        division: int | None = None,
    ) -> builtins.list[R]:
        """All matching rows (follows ``__next``; ``top`` caps the total)."""
        it = self.iter(
            filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params, division=division
        )
        return [row async for row in it]


class AsyncGettable(AsyncReadable[R, M]):
    """Adds ``get(key)``."""

    async def get(
        self,
        key: Key,
        *,
        select: Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        division: int | None = None,
    ) -> M:
        """One entity by key (guid, int, text or a composite mapping/tuple), as its model (ready to edit)."""
        from ..models._parse import parse_entity

        call = self.plan_list(select=select, expand=expand)
        data = await self._client.get(self.key_path(key), call.params, division=self._div(division))
        return parse_entity(self._model(), data)


class AsyncSinceReadable(AsyncReadable[R, M]):
    """Sync endpoints: ``iter_since(timestamp)`` (rows)."""

    async def iter_since(
        self,
        timestamp: int,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        division: int | None = None,
    ) -> AsyncIterator[R]:
        """Rows changed after ``timestamp``; keep the highest ``timestamp`` seen for the next run."""
        call = self.plan_since(timestamp, filters=filters, select=select)
        async for rows in self._pages(call, division, None):
            for row in rows:
                yield row


class AsyncCreatable(_AsyncAPI[R, M]):
    """POST: ``create``."""

    async def create(self, entity: M, *, division: int | None = None) -> M:
        """Create ``entity`` (only the fields you set); returns it as Exact stored it, as a model."""
        from ..models._parse import parse_entity

        call = self.plan_create(entity)
        data = await self._client.post(call.path, call.body, division=self._div(division))
        return parse_entity(self._model(), data) if data else entity


class AsyncUpdatable(_AsyncAPI[R, M]):
    """PUT: ``update``."""

    async def update(
        self, entity: Key | M | ExactRow, changes: M | None = None, *, division: int | None = None
    ) -> None:
        """Send only the changed fields: ``update(model)`` after assigning, or ``update(key_or_row, Model(...))``."""
        from ..models._types import ExactModel, mark_from_wire

        call = self.plan_update(entity, changes)
        if call is not None:
            await self._client.put(call.path, call.body, division=self._div(division))
        done = changes if changes is not None else entity
        if isinstance(done, ExactModel):
            mark_from_wire([done])  # sent: later writes send only what is assigned after this


class AsyncDeletable(_AsyncAPI[R, M]):
    """DELETE: ``delete``."""

    async def delete(self, key: Key | M | ExactRow, *, division: int | None = None) -> None:
        """Delete one entity by key, model or row."""
        call = self.plan_delete(key)
        await self._client.delete(call.path, division=self._div(division))
