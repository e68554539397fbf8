"""Blocking executors of the planned calls, over :class:`exact_online_sdk.client.ExactOnlineClient`."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..models._parse import parse_entity, parse_page
from ..models._types import _WIRE, ExactModel, M
from ._plan import Call, Filters, Key, Planner

if TYPE_CHECKING:
    from ..client import ExactOnlineClient

__all__ = ["Creatable", "Deletable", "Gettable", "Readable", "SinceReadable", "Updatable"]


class _SyncAPI(Planner[M]):
    _client: ExactOnlineClient

    def __init__(self, client: ExactOnlineClient, *, division: int | None = None) -> None:
        if hasattr(client, "__aenter__"):
            raise TypeError(f"{type(self).__name__} needs an ExactOnlineClient; use Async{type(self).__name__}")
        super().__init__(client, division=division)

    def _pages(self, call: Call, division: int | None, limit: int | None) -> Iterator[builtins.list[M]]:
        left = limit
        for page in self._client.iter_pages(call.path, call.params, division=self._div(division), max_rows=limit):
            rows = parse_page(self._model(), page.content).rows
            if left is not None:
                rows = rows[:left]
                left -= len(rows)
            if rows:
                yield rows
            if left == 0:
                return


class Readable(_SyncAPI[M]):
    """GET of the collection: ``list``, ``iter`` and ``iter_pages``."""

    def iter_pages(
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
    ) -> Iterator[builtins.list[M]]:
        """Lists of models; Exact's own pages, or batches of ``page_size`` (Exact fixes its page size)."""
        call = self.plan_list(filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params)
        pages = self._pages(call, division, top)
        if page_size is None:
            yield from pages
            return
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        batch: builtins.list[M] = []
        for rows in pages:
            batch.extend(rows)
            while len(batch) >= page_size:
                yield batch[:page_size]
                batch = batch[page_size:]
        if batch:
            yield batch

    def iter(
        self,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
        division: int | None = None,
    ) -> Iterator[M]:
        """Every matching row as a model, page after page (``top`` caps the total)."""
        call = self.plan_list(filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params)
        for rows in self._pages(call, division, top):
            yield from rows

    def list(
        self,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
        division: int | None = None,
    ) -> builtins.list[M]:
        """All matching rows as models (follows ``__next``; ``top`` caps the total)."""
        it = self.iter(
            filters=filters, select=select, top=top, orderby=orderby, expand=expand, params=params, division=division
        )
        return builtins.list(it)


class Gettable(Readable[M]):
    """Adds ``get(key)``."""

    def get(
        self,
        key: Key,
        *,
        select: Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        division: int | None = None,
    ) -> M:
        """One entity by key (guid, int, text or a composite mapping/tuple)."""
        call = self.plan_list(select=select, expand=expand)
        data = self._client.get(self.key_path(key), call.params, division=self._div(division))
        return parse_entity(self._model(), data)


class SinceReadable(Readable[M]):
    """Sync endpoints: ``iter_since(timestamp)``."""

    def iter_since(
        self,
        timestamp: int,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        division: int | None = None,
    ) -> Iterator[M]:
        """Rows changed after ``timestamp``; keep the highest ``timestamp`` seen for the next run."""
        call = self.plan_since(timestamp, filters=filters, select=select)
        for rows in self._pages(call, division, None):
            yield from rows


class Creatable(_SyncAPI[M]):
    """POST: ``create``."""

    def create(self, entity: M, *, division: int | None = None) -> M:
        """Create ``entity`` (only the fields you set); returns it as Exact stored it."""
        call = self.plan_create(entity)
        data = self._client.post(call.path, call.body, division=self._div(division))
        return parse_entity(self._model(), data) if data else entity


class Updatable(_SyncAPI[M]):
    """PUT: ``update``."""

    def update(self, entity: Key | M, changes: M | None = None, *, division: int | None = None) -> None:
        """Send only the changed fields: ``update(model)`` after assigning, or ``update(key, Model(...))``."""
        call = self.plan_update(entity, changes)
        if call is not None:
            self._client.put(call.path, call.body, division=self._div(division))
        done = changes if changes is not None else entity
        if isinstance(done, ExactModel):
            object.__setattr__(done, "_eo_changed", _WIRE)


class Deletable(_SyncAPI[M]):
    """DELETE: ``delete``."""

    def delete(self, key: Key | M, *, division: int | None = None) -> None:
        """Delete one entity by key or model."""
        call = self.plan_delete(key)
        self._client.delete(call.path, division=self._div(division))
