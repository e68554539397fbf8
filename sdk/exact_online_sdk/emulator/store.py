"""Entity tables: deterministic, lazily generated seed rows plus the changes made through the API.

A seed row is never stored: its values are pure functions of (seed, division, entity, row index), so a table of
100k rows costs nothing until read, and only the requested fields are computed. Rows are kept in *wire form*
(Guid as text, DateTime as ``/Date(ms)/``, Int64 as text, Double as float), ready for ``json.dumps``.
Writes materialize a row into ``overrides``; every change takes the next value of the division's Timestamp.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..registry import Endpoint, Field
from .catalog import catalog
from .config import EmulatorConfig
from .seed import SEED_TS_BASE, generators, singular, stable_hash

__all__ = ["DELETED_ENTITY_TYPES", "Store", "Table", "now_wire", "table_path_for"]

Row = dict[str, Any]

# Exact's sync/Deleted EntityType codes (FACTS section 5).
DELETED_ENTITY_TYPES: dict[str, int] = {
    "financialtransaction/TransactionLines": 1,
    "crm/Accounts": 2,
    "crm/Addresses": 3,
    "documents/DocumentAttachments": 4,
    "crm/Contacts": 5,
    "documents/Documents": 6,
    "financial/GLAccounts": 7,
    "logistics/SalesItemPrices": 8,
    "logistics/Items": 9,
    "cashflow/PaymentTerms": 10,
    "crm/Quotations": 11,
    "salesorder/SalesOrders": 12,
    "salesinvoice/SalesInvoices": 13,
    "project/TimeCostTransactions": 14,
    "inventory/StockPositions": 15,
    "salesorder/GoodsDeliveries": 16,
    "salesorder/GoodsDeliveryLines": 17,
    "financial/GLClassifications": 18,
    "purchaseorder/PurchaseOrders": 22,
}

_GLOBAL_TABLES = frozenset({"system/Divisions", "system/AllDivisions", "current/Me", "system/Users"})
_CHANGE_TS_BASE = 10_000_000_000


@dataclass
class Table:
    """All rows of one entity in one division (or shared, for the division-less system tables)."""

    store: Store
    path: str
    division: int
    fields: dict[str, Field]
    key: tuple[str, ...]
    n_seed: int
    guid_prefix: str
    generators: dict[str, Callable[[int], Any]] = field(default_factory=dict)
    derived: dict[str, Callable[[int], Any]] = field(default_factory=dict)
    """Fields computed from other rows on every read (a header's totals over its lines)."""
    overrides: dict[int, Row] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    created_keys: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[int, int]] = field(default_factory=list)  # (timestamp, index) in change order
    n_total: int = 0
    version: int = 0
    _links: dict[str, tuple[int, dict[Any, list[int]]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.n_total = self.n_seed

    # --- identity ------------------------------------------------------------------------------------------

    @property
    def entity_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def type_name(self) -> str:
        return "Exact.Web.Api.Models." + singular(self.entity_name)

    def seed_guid(self, i: int) -> str:
        return f"{self.guid_prefix}{i:012x}"

    def index_of_key(self, key: tuple[Any, ...], *, include_deleted: bool = False) -> int | None:
        """Row index for a key tuple (wire values), or None; deleted rows only with ``include_deleted``."""
        gone = set() if include_deleted else self.deleted
        if len(key) == 1 and isinstance(key[0], str):
            text = key[0].lower()
            if text.startswith(self.guid_prefix) and len(text) == 36:
                try:
                    i = int(text[-12:], 16)
                except ValueError:
                    return None
                return i if i < self.n_seed and i not in gone else None
            found = self.created_keys.get(text)
            return found if found is not None and found not in gone else None
        for i in range(self.n_total):
            if i not in gone and tuple(self.value(i, k) for k in self.key) == key:
                return i
        return None

    # --- values --------------------------------------------------------------------------------------------

    def value(self, i: int, name: str) -> Any:
        compute = self.derived.get(name)
        if compute is not None:
            return compute(i)
        row = self.overrides.get(i)
        if row is not None:
            return row.get(name)
        gen = self.generators.get(name)
        return gen(i) if gen is not None else None

    def timestamp(self, i: int) -> int:
        row = self.overrides.get(i)
        if row is not None:
            return int(row["Timestamp"])
        return SEED_TS_BASE + i

    def row(self, i: int, names: list[str] | None = None) -> Row:
        """The row's values for ``names`` (all scalar fields when None)."""
        wanted = names if names is not None else self.scalar_names
        row = self.overrides.get(i)
        if row is not None:
            out = {n: row.get(n) for n in wanted}
        else:
            gens = self.generators
            out = {n: (gens[n](i) if n in gens else None) for n in wanted}
        for n in self.derived.keys() & out.keys():
            out[n] = self.derived[n](i)
        return out

    @property
    def scalar_names(self) -> list[str]:
        return [n for n, f in self.fields.items() if not f.is_navigation]

    def key_values(self, i: int) -> tuple[Any, ...]:
        return tuple(self.value(i, k) for k in self.key)

    # --- iteration -----------------------------------------------------------------------------------------

    def live_indices(self, start: int = 0) -> Iterator[int]:
        """Indices of existing rows in insertion order, from ``start``."""
        deleted = self.deleted
        for i in range(max(0, start), self.n_total):
            if i not in deleted:
                yield i

    def count(self) -> int:
        return self.n_total - len(self.deleted)

    def children(self, column: str, key: Any) -> list[int]:
        """Live rows whose ``column`` holds ``key`` (the lines of a header), in insertion order."""
        cached = self._links.get(column)
        if cached is None or cached[0] != self.version:
            index: dict[Any, list[int]] = {}
            for i in self.live_indices():
                value = self.value(i, column)
                if value is not None:
                    index.setdefault(_norm(value), []).append(i)
            cached = (self.version, index)
            self._links[column] = cached
        return list(cached[1].get(_norm(key), ()))

    def by_timestamp(self, after: int) -> Iterator[int]:
        """Indices of existing rows with Timestamp > ``after``, in Timestamp order (the sync API's order)."""
        overrides, deleted = self.overrides, self.deleted
        first = max(0, after - SEED_TS_BASE + 1)
        for i in range(first, self.n_seed):
            if i not in overrides and i not in deleted:
                yield i
        pos = bisect.bisect_right(self.changes, (after, 1 << 62))
        for ts, i in self.changes[pos:]:
            if i not in deleted and self.timestamp(i) == ts:
                yield i

    # --- writes (callers hold the store lock) ----------------------------------------------------------------

    def materialize(self, i: int) -> Row:
        row = self.overrides.get(i)
        if row is None:
            row = self.row(i, list(self.fields))
            row["Timestamp"] = str(SEED_TS_BASE + i)
            self.overrides[i] = row
        return row

    def insert(self, values: Row) -> int:
        i = self.n_total
        self.n_total += 1
        row = {name: None for name in self.fields}
        row.update(values)
        self.overrides[i] = row
        if len(self.key) == 1 and isinstance(row.get(self.key[0]), str):
            self.created_keys[str(row[self.key[0]]).lower()] = i
        self._touch(i)
        return i

    def update(self, i: int, values: Row) -> None:
        self.materialize(i).update(values)
        self._touch(i)

    def delete(self, i: int) -> None:
        self.deleted.add(i)
        self.version += 1

    def _touch(self, i: int) -> None:
        self.version += 1
        ts = self.store.next_timestamp(self.division)
        row = self.overrides[i]
        row["Timestamp"] = str(ts)
        self.changes.append((ts, i))


class Store:
    """All tables, created on first use. One re-entrant lock guards every read and write."""

    def __init__(self, config: EmulatorConfig, *, user_id: str) -> None:
        self.config = config
        self.user_id = user_id
        self.lock = threading.RLock()
        self._tables: dict[tuple[int, str], Table] = {}
        self._counters: dict[int, int] = {}

    def next_timestamp(self, division: int) -> int:
        value = self._counters.get(division, _CHANGE_TS_BASE) + 1
        self._counters[division] = value
        return value

    def table(self, path: str, division: int) -> Table:
        """The table for a standard entity path (see :meth:`.catalog.Catalog.table_path` for sync/bulk endpoints)."""
        if path in _GLOBAL_TABLES:
            division = 0
        found = self._tables.get((division, path))
        if found is None:
            with self.lock:
                found = self._tables.get((division, path))
                if found is None:
                    found = self._build(path, division)
                    self._tables[(division, path)] = found
        return found

    def rows_for(self, path: str) -> int:
        cfg = self.config
        if path in cfg.table_rows:
            return cfg.table_rows[path]
        if path in ("system/Divisions", "system/AllDivisions"):
            return len(cfg.divisions)
        if path in ("current/Me", "system/Users"):
            return 1
        if path in ("webhooks/WebhookSubscriptions", "sync/Deleted") or path.endswith("/$metadata"):
            return 0
        if path.endswith("Lines"):
            return cfg.rows * 3
        return cfg.rows

    def guid_prefix(self, path: str, division: int) -> str:
        """Seed Guid keys are this prefix plus the row index in 12 hex digits (so a key maps back to its row)."""
        if path in _GLOBAL_TABLES:
            division = 0
        h = f"{stable_hash(self.config.seed, division, path):016x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[1:4]}-"

    def seed_key(self, path: str, division: int, i: int) -> str:
        """The Guid key of seed row ``i`` of a table, without building the table."""
        return f"{self.guid_prefix(path, division)}{i:012x}"

    def _build(self, path: str, division: int) -> Table:
        fields, key = catalog().table_fields(path)
        table = Table(self, path, division, fields, key, self.rows_for(path), self.guid_prefix(path, division))
        table.generators = generators(self, table)
        table.derived = self._totals(table)
        return table

    def _totals(self, table: Table) -> dict[str, Callable[[int], Any]]:
        """A header's read-only amounts that repeat on its lines are the sum over its lines, as Exact computes."""
        out: dict[str, Callable[[int], Any]] = {}
        if len(table.key) != 1:
            return out
        for rel in catalog().children_of(table.path):
            if not rel.child.endswith("Lines"):
                continue
            child_fields, _ = catalog().table_fields(rel.child)
            for name, f in table.fields.items():
                other = child_fields.get(name)
                if (
                    f.edm_type == "Edm.Double"
                    and f.read_only
                    and "Percentage" not in name
                    and other is not None
                    and other.edm_type == "Edm.Double"
                ):
                    out.setdefault(name, self._sum(table, rel.child, rel.column, name))
        return out

    def _sum(self, table: Table, child_path: str, column: str, name: str) -> Callable[[int], Any]:
        key = table.key[0]

        def total(i: int) -> float:
            lines = self.table(child_path, table.division)
            parent = table.overrides[i].get(key) if i in table.overrides else table.generators[key](i)
            return round(sum(lines.value(c, name) or 0.0 for c in lines.children(column, parent)), 2)

        return total


def table_path_for(endpoint: Endpoint) -> str:
    """Deprecated: use ``catalog().table_path(endpoint)`` (:mod:`.catalog`)."""
    warnings.warn(
        "exact_online_sdk.emulator.store.table_path_for moved to catalog().table_path", DeprecationWarning, stacklevel=2
    )
    return catalog().table_path(endpoint)


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def now_wire(clock_now: float) -> str:
    """The clock's time as ``/Date(ms)/`` (UTC wall clock)."""
    return f"/Date({round(clock_now * 1000)})/"
