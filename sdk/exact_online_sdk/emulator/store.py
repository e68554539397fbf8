"""Entity tables: deterministic, lazily generated seed rows plus the changes made through the API.

A seed row is never stored: its values are pure functions of (seed, division, entity, row index), so a table of
100k rows costs nothing until read, and only the requested fields are computed. Rows are kept in *wire form*
(Guid as text, DateTime as ``/Date(ms)/``, Int64 as text, Double as float), ready for ``json.dumps``.
Writes materialize a row into ``overrides``; every change takes the next value of the division's Timestamp.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from ..registry import Endpoint, Field, registry
from .config import EmulatorConfig

__all__ = ["DELETED_ENTITY_TYPES", "Store", "Table", "table_path_for"]

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

# Guid fields that point at another entity: seed values are real keys of the target table.
_REFERENCES: dict[str, str] = {
    "Account": "crm/Accounts",
    "AccountId": "crm/Accounts",
    "Customer": "crm/Accounts",
    "Supplier": "crm/Accounts",
    "OrderedBy": "crm/Accounts",
    "InvoiceTo": "crm/Accounts",
    "DeliverTo": "crm/Accounts",
    "InvoiceAccount": "crm/Accounts",
    "OrderAccount": "crm/Accounts",
    "DeliveryAccount": "crm/Accounts",
    "Contact": "crm/Contacts",
    "MainContact": "crm/Contacts",
    "OrderedByContactPerson": "crm/Contacts",
    "InvoiceToContactPerson": "crm/Contacts",
    "DeliverToContactPerson": "crm/Contacts",
    "GLAccount": "financial/GLAccounts",
    "GLAccountSales": "financial/GLAccounts",
    "GLAccountPurchase": "financial/GLAccounts",
    "GLAR": "financial/GLAccounts",
    "GLAP": "financial/GLAccounts",
    "GLRevenue": "financial/GLAccounts",
    "GLCosts": "financial/GLAccounts",
    "GLStock": "financial/GLAccounts",
    "Item": "logistics/Items",
    "Project": "project/Projects",
    "Document": "documents/Documents",
}

_GLOBAL_TABLES = frozenset({"system/Divisions", "system/AllDivisions", "current/Me", "system/Users"})
_CITIES = ("Amsterdam", "Rotterdam", "Utrecht", "Delft", "Antwerpen", "Gent", "Eindhoven", "Zwolle")
_SEED_TS_BASE = 10_000  # seed Timestamps start here, so both "gt 0L" and "gt 1L" return every row
_CHANGE_TS_BASE = 10_000_000_000
_EPOCH_2024_MS = 1_704_067_200_000  # 2024-01-01T00:00:00
_DAY_MS = 86_400_000


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).digest()[:8], "big")


def table_path_for(endpoint: Endpoint) -> str:
    """The table behind an endpoint: ``sync/CRM/Accounts`` and ``bulk/...`` share rows with the standard entity."""
    return _table_path(endpoint.path, endpoint.kind)


@cache
def _table_path(path: str, kind: str) -> str:
    if kind in ("sync", "bulk"):
        name = path.rsplit("/", 1)[-1]
        for other in registry():
            if other.kind == "standard" and other.path.rsplit("/", 1)[-1] == name:
                return other.path
    return path


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("sses") or name.endswith("xes"):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


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
    overrides: dict[int, Row] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    created_keys: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[int, int]] = field(default_factory=list)  # (timestamp, index) in change order
    n_total: int = 0

    def __post_init__(self) -> None:
        self.n_total = self.n_seed

    # --- identity ------------------------------------------------------------------------------------------

    @property
    def entity_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def type_name(self) -> str:
        return "Exact.Web.Api.Models." + _singular(self.entity_name)

    def seed_guid(self, i: int) -> str:
        return f"{self.guid_prefix}{i:012x}"

    def index_of_key(self, key: tuple[Any, ...]) -> int | None:
        """Row index for a key tuple (wire values), or None."""
        if len(key) == 1 and isinstance(key[0], str):
            text = key[0].lower()
            if text.startswith(self.guid_prefix) and len(text) == 36:
                try:
                    i = int(text[-12:], 16)
                except ValueError:
                    return None
                return i if i < self.n_seed and i not in self.deleted else None
            found = self.created_keys.get(text)
            return found if found is not None and found not in self.deleted else None
        for i in self.live_indices():
            if tuple(self.value(i, k) for k in self.key) == key:
                return i
        return None

    # --- values --------------------------------------------------------------------------------------------

    def value(self, i: int, name: str) -> Any:
        row = self.overrides.get(i)
        if row is not None:
            return row.get(name)
        gen = self.generators.get(name)
        return gen(i) if gen is not None else None

    def timestamp(self, i: int) -> int:
        row = self.overrides.get(i)
        if row is not None:
            return int(row["Timestamp"])
        return _SEED_TS_BASE + i

    def row(self, i: int, names: list[str] | None = None) -> Row:
        """The row's values for ``names`` (all scalar fields when None)."""
        wanted = names if names is not None else self.scalar_names
        row = self.overrides.get(i)
        if row is not None:
            return {n: row.get(n) for n in wanted}
        gens = self.generators
        return {n: (gens[n](i) if n in gens else None) for n in wanted}

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

    def by_timestamp(self, after: int) -> Iterator[int]:
        """Indices of existing rows with Timestamp > ``after``, in Timestamp order (the sync API's order)."""
        overrides, deleted = self.overrides, self.deleted
        first = max(0, after - _SEED_TS_BASE + 1)
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
            row["Timestamp"] = str(_SEED_TS_BASE + i)
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

    def _touch(self, i: int) -> None:
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
        """The table for a standard entity path (use :func:`table_path_for` for sync/bulk endpoints)."""
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
        h = f"{_h(self.config.seed, division, path):016x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[1:4]}-"

    def seed_key(self, path: str, division: int, i: int) -> str:
        """The Guid key of seed row ``i`` of a table, without building the table."""
        return f"{self.guid_prefix(path, division)}{i:012x}"

    def _build(self, path: str, division: int) -> Table:
        reg = registry()
        fields: dict[str, Field] = {}
        key: tuple[str, ...] = ()
        for ep in reg:
            if ep.path == path or (ep.kind in ("sync", "bulk") and table_path_for(ep) == path):
                for f in ep.fields:
                    fields.setdefault(f.name, f)
                if ep.path == path:
                    key = ep.keys
        if not key:
            key = ("ID",) if "ID" in fields else ()
        table = Table(self, path, division, fields, key, self.rows_for(path), self.guid_prefix(path, division))
        table.generators = _generators(self, table)
        return table


def _generators(store: Store, table: Table) -> dict[str, Callable[[int], Any]]:
    """One value function per scalar field (index -> wire value)."""
    cfg = store.config
    gens: dict[str, Callable[[int], Any]] = {}
    n = max(table.n_seed, 1)
    single = _singular(table.entity_name)
    division = table.division
    parent = _parent_of(store, table)
    for name, f in table.fields.items():
        if f.is_navigation:
            continue
        salt = _h(name) % 1000
        gens[name] = _field_generator(store, table, name, f.edm_type, salt, n, single, division, parent, cfg)
    if table.path in ("system/Divisions", "system/AllDivisions"):
        divs = cfg.divisions
        gens["Code"] = lambda i: divs[i % len(divs)]
        gens["Description"] = lambda i: f"Emulated company {divs[i % len(divs)]}"
        gens["Current"] = lambda i: i == 0
        gens["Customer"] = lambda i: store.seed_key("crm/Accounts", divs[i % len(divs)], 0)
    if table.path == "current/Me":
        first = cfg.divisions[0]
        gens["UserID"] = lambda i: store.user_id
        gens["CurrentDivision"] = lambda i: first
        gens["AccountingDivision"] = lambda i: first
        gens["DivisionCustomer"] = lambda i: store.seed_key("crm/Accounts", first, 0)
        gens["UserName"] = lambda i: cfg.user_name
        gens["Email"] = lambda i: cfg.user_name
        gens["FullName"] = lambda i: "Emulator User"
        gens["Language"] = lambda i: "EN"
        gens["LanguageCode"] = lambda i: "en-US"
        gens["ServerUtcOffset"] = lambda i: 0.0
        gens["ServerTime"] = lambda i: datetime.now().replace(microsecond=0).isoformat()
    if table.path == "system/Users":
        gens["UserID"] = lambda i: store.user_id
        gens["UserName"] = lambda i: cfg.user_name
    return gens


def _parent_of(store: Store, table: Table) -> tuple[str, str] | None:
    """For a line entity, (header key field, header path): ``SalesInvoiceLines.InvoiceID`` -> SalesInvoices."""
    if not table.path.endswith("Lines"):
        return None
    header_path = table.path[: -len("Lines")] + "s"
    header = registry().get(header_path)
    if header is None or len(header.keys) != 1 or header.keys[0] not in table.fields:
        return None
    return header.keys[0], header_path


def _field_generator(
    store: Store,
    table: Table,
    name: str,
    edm: str,
    salt: int,
    n: int,
    single: str,
    division: int,
    parent: tuple[str, str] | None,
    cfg: EmulatorConfig,
) -> Callable[[int], Any]:
    is_key = name in table.key
    if name == "Timestamp":
        return lambda i: str(_SEED_TS_BASE + i)
    if name == "Division" and edm.startswith("Edm.Int"):
        return lambda i: division
    if edm == "Edm.Guid":
        if is_key:
            return table.seed_guid
        if name in ("Creator", "Modifier", "UserID", "DeletedBy"):
            uid = store.user_id
            return lambda i: uid
        if parent is not None and name == parent[0]:
            hprefix, hn = store.guid_prefix(parent[1], division), store.rows_for(parent[1])
            return lambda i: f"{hprefix}{i // 3 % hn:012x}" if hn else None
        target = _REFERENCES.get(name)
        if target is not None:
            rprefix, rn = store.guid_prefix(target, division), store.rows_for(target)
            return lambda i: f"{rprefix}{(i * 7 + salt) % rn:012x}" if rn else None
        prefix = f"{_h(cfg.seed, table.path, name):032x}"[:24]
        return lambda i: None if (i + salt) % 5 == 0 else str(uuid.UUID(prefix + f"{(i * 13 + salt) % 97:08x}"))
    if edm == "Edm.String":
        if name == "Code" and table.path == "crm/Accounts":
            return lambda i: f"{i + 1:>18}"
        if name in ("Code", "SearchCode"):
            return lambda i: f"{single[:3].upper()}{i + 1:05d}"
        if name in ("Name", "Description", "FullName"):
            return lambda i: f"{single} {i + 1}"
        if "Email" in name:
            return lambda i: f"contact{i + 1}@example.com"
        if name == "City":
            return lambda i: _CITIES[(i + salt) % len(_CITIES)]
        if name == "Country":
            return lambda i: ("NL", "BE", "DE")[i % 3]
        if "Currency" in name and "Description" not in name:
            return lambda i: "EUR"
        if "Phone" in name or name == "Fax":
            return lambda i: f"+31 20 {(i * 7919 + salt) % 10_000_000:07d}"
        return lambda i: None if (i + salt) % 7 == 0 else f"{name} {(i * 31 + salt) % 1000}"
    if edm in ("Edm.Int32", "Edm.Int16", "Edm.Byte", "Edm.Int64"):
        as_text = edm == "Edm.Int64"
        if is_key:
            return (lambda i: str(i + 1)) if as_text else (lambda i: i + 1)
        if name in ("Year", "ReportingYear", "FinancialYear"):
            return lambda i: 2020 + i % 7
        if name in ("Period", "FinancialPeriod", "ReportingPeriod"):
            return lambda i: 1 + i % 12
        mod = {"Edm.Byte": 3, "Edm.Int16": 100, "Edm.Int32": 1000, "Edm.Int64": 100_000}[edm]
        if name.endswith("Number") or name == "LineNumber":
            return lambda i: i + 1
        if as_text:
            return lambda i: str((i * 31 + salt) % mod)
        return lambda i: (i * 31 + salt) % mod
    if edm == "Edm.Double":
        return lambda i: ((i * 7919 + salt * 13) % 1_000_000) / 100
    if edm == "Edm.Boolean":
        return lambda i: (i + salt) % 3 == 0
    if edm == "Edm.DateTime":
        if name in ("Created", "Modified"):
            return lambda i: f"/Date({_EPOCH_2024_MS + i * 60_000})/"
        return lambda i: (
            None if (i + salt) % 9 == 0 else f"/Date({_EPOCH_2024_MS + ((i * 37 + salt) % 1000) * _DAY_MS})/"
        )
    return lambda i: None


def now_wire(clock_now: float) -> str:
    """The clock's time as ``/Date(ms)/`` (UTC wall clock)."""
    return f"/Date({round(clock_now * 1000)})/"
