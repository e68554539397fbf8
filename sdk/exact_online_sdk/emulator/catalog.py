"""The endpoints the emulator serves, the tables behind them, and the links between tables.

Every endpoint of the package registry (Exact's reference) plus :mod:`.supplement`'s. ``sync/...`` and ``bulk/...``
endpoints read the rows of the standard entity with the same name (``sync/CRM/Accounts`` -> ``crm/Accounts``), so a
change made through the standard endpoint shows up in its sync and bulk twins. Navigation links come from the
registry (derived from the reference by ``tools/registry_gen.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache

from ..registry import Endpoint, Field, Link, registry
from .supplement import extra_endpoints

__all__ = ["Catalog", "Relation", "catalog", "parent_column"]


@dataclass(frozen=True)
class Relation:
    """Rows of table ``child`` belong to rows of table ``parent`` through the child's column ``column``."""

    parent: str
    link: Link
    child: str
    column: str


def parent_column(parent_table: str, link: Link) -> str:
    """The child's column holding the parent's key: the reference's link field, or a hidden emulator column."""
    return link.via or f"__parent:{parent_table}/{link.name}"


class Catalog:
    """Endpoints by path, the table (standard entity path) behind each one, and the relations between tables."""

    def __init__(self, endpoints: list[tuple[Endpoint, str | None]]) -> None:
        self.endpoints = tuple(ep for ep, _ in endpoints)
        self._by_path = {e.path: e for e in self.endpoints}
        standard = {e.path.rsplit("/", 1)[-1]: e.path for e in reversed(self.endpoints) if e.kind == "standard"}
        self._tables: dict[str, str] = {}
        for ep, table in endpoints:
            if table is None:
                name = ep.path.rsplit("/", 1)[-1]
                table = standard.get(name, ep.path) if ep.kind in ("sync", "bulk") else ep.path
            self._tables[ep.path] = table
        self.sync_tables = frozenset(self._tables[e.path] for e in self.endpoints if e.kind == "sync")
        relations: dict[tuple[str, str], Relation] = {}
        for ep in self.endpoints:
            parent = self._tables[ep.path]
            for link in ep.links:
                target = self._by_path.get(link.target)
                if target is not None:
                    child = self._tables[target.path]
                    relations.setdefault(
                        (parent, link.name), Relation(parent, link, child, parent_column(parent, link))
                    )
        self.relations = tuple(relations.values())

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
                    known = fields.setdefault(f.name, f)
                    if f.values and not known.values:  # a twin documents the domain the entity's page omits
                        fields[f.name] = replace(known, values=f.values)
                if ep.path == path:
                    key = ep.keys
        if not key:
            key = ("ID",) if "ID" in fields else ()
        return fields, key

    def relation(self, parent_table: str, name: str) -> Relation | None:
        """The relation behind navigation property ``name`` of a table's rows."""
        return next((r for r in self.relations if r.parent == parent_table and r.link.name == name), None)

    def parents_of(self, child_table: str) -> list[Relation]:
        """Relations whose rows of ``child_table`` point at a parent through a reference field."""
        return [r for r in self.relations if r.child == child_table and r.link.via is not None]

    def children_of(self, parent_table: str) -> list[Relation]:
        """The navigation collections of a table's rows."""
        return [r for r in self.relations if r.parent == parent_table]


@cache
def catalog() -> Catalog:
    """The emulator's catalog (built once per process)."""
    reg = registry()
    extras: list[tuple[Endpoint, str | None]] = list(extra_endpoints(reg))
    return Catalog([(ep, None) for ep in reg.endpoints] + extras)
