"""The endpoints the emulator serves and the tables behind them.

Every endpoint of the package registry (Exact's reference). ``sync/...`` and ``bulk/...`` endpoints read the rows of
the standard entity with the same name (``sync/CRM/Accounts`` -> ``crm/Accounts``), so a change made through the
standard endpoint shows up in its sync and bulk twins.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from ..registry import Endpoint, Field, registry

__all__ = ["Catalog", "catalog"]


class Catalog:
    """Endpoints by path, and the table (standard entity path) behind each one."""

    def __init__(self, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints = endpoints
        self._by_path = {e.path: e for e in endpoints}
        standard = {e.path.rsplit("/", 1)[-1]: e.path for e in reversed(endpoints) if e.kind == "standard"}
        self._tables = {
            e.path: standard.get(e.path.rsplit("/", 1)[-1], e.path) if e.kind in ("sync", "bulk") else e.path
            for e in endpoints
        }
        self.sync_tables = frozenset(self._tables[e.path] for e in endpoints if e.kind == "sync")

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)

    def __len__(self) -> int:
        return len(self.endpoints)

    def get(self, path: str) -> Endpoint | None:
        """The endpoint at exactly ``path`` (case-sensitive, as Exact's paths are), or None."""
        return self._by_path.get(path)

    def table_path(self, endpoint: Endpoint) -> str:
        """The table behind an endpoint: its own path, or the standard entity of a sync/bulk endpoint."""
        return self._tables.get(endpoint.path, endpoint.path)

    def table_fields(self, path: str) -> tuple[dict[str, Field], tuple[str, ...]]:
        """(fields by name, key) of a table: the union of the fields of every endpoint reading it."""
        fields: dict[str, Field] = {}
        key: tuple[str, ...] = ()
        for ep in self.endpoints:
            if self._tables[ep.path] == path:
                for f in ep.fields:
                    fields.setdefault(f.name, f)
                if ep.path == path:
                    key = ep.keys
        if not key:
            key = ("ID",) if "ID" in fields else ()
        return fields, key


@cache
def catalog() -> Catalog:
    """The emulator's catalog (built once per process)."""
    return Catalog(registry().endpoints)
