"""Seed data: one value function per field (row index -> wire value), picked from a rule table.

Values are pure functions of (seed, division, entity, row index), so a table of 100k rows costs nothing until read.
The first rule whose condition holds for a field makes its generator; a few tables (divisions, the user) get exact
values on top. The data is relationally consistent: a child row's link field holds a real parent key (three lines
per header), reference fields (``Customer``, ``GLAccount``, ``Item``...) hold real keys, their companions
(``CustomerName``, ``GLAccountCode``) repeat the referenced row's values, and fields with a documented value domain
only take documented codes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..registry import Field
from .catalog import catalog

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .store import Store, Table

__all__ = [
    "SEED_TS_BASE",
    "Generator",
    "companions",
    "generators",
    "labels_of",
    "lines_per_parent",
    "references",
    "stable_hash",
]

Generator = Callable[[int], Any]

SEED_TS_BASE = 10_000  # seed Timestamps start here, so both "gt 0L" and "gt 1L" return every row
_EPOCH_2024_MS = 1_704_067_200_000  # 2024-01-01T00:00:00
_DAY_MS = 86_400_000
_CITIES = ("Amsterdam", "Rotterdam", "Utrecht", "Delft", "Antwerpen", "Gent", "Eindhoven", "Zwolle")
_INT_MOD = {"Edm.Byte": 3, "Edm.Int16": 100, "Edm.Int32": 1000, "Edm.Int64": 100_000}
_INTS = frozenset(_INT_MOD)

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


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (seeds must not depend on PYTHONHASHSEED)."""
    digest = hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


def singular(name: str) -> str:
    """``SalesInvoices`` -> ``SalesInvoice`` (Exact's entity type names)."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("sses") or name.endswith("xes"):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


@dataclass(frozen=True)
class Spec:
    """What a rule sees of one field of one table."""

    store: Store
    table: Table
    name: str
    edm: str
    salt: int
    field: Field

    @property
    def is_key(self) -> bool:
        return self.name in self.table.key

    @property
    def config(self) -> EmulatorConfig:
        return self.store.config

    @property
    def single(self) -> str:
        return singular(self.table.entity_name)


Rule = tuple[Callable[[Spec], bool], Callable[[Spec], Generator]]


def _edm(*types: str) -> Callable[[Spec], bool]:
    return lambda s: s.edm in types


def _named(*names: str) -> Callable[[Spec], bool]:
    return lambda s: s.name in names


def _all(*conds: Callable[[Spec], bool]) -> Callable[[Spec], bool]:
    return lambda s: all(c(s) for c in conds)


# --- generators ---------------------------------------------------------------------------------------------


def _timestamp(s: Spec) -> Generator:
    return lambda i: str(SEED_TS_BASE + i)


def _division(s: Spec) -> Generator:
    division = s.table.division
    return lambda i: division


def _user(s: Spec) -> Generator:
    uid = s.store.user_id
    return lambda i: uid


def _parent_key(s: Spec) -> Generator:
    parent = next(r.parent for r in catalog().parents_of(s.table.path) if r.column == s.name)
    prefix, rows = s.store.guid_prefix(parent, s.table.division), s.store.rows_for(parent)
    per = lines_per_parent(s.table.path)
    return lambda i: f"{prefix}{i // per % rows:012x}" if rows else None


def _is_parent_key(s: Spec) -> bool:
    return any(r.column == s.name for r in catalog().parents_of(s.table.path))


def _domain(s: Spec) -> Generator:
    codes = [_code(c, s.edm) for c in s.field.codes]
    salt = s.salt
    return lambda i: codes[(i + salt) % len(codes)]


def _code(code: str, edm: str) -> Any:
    """A documented code in the field's wire form (ints for Int16/Int32/Byte, text for Int64 and strings)."""
    return int(code) if edm in ("Edm.Int16", "Edm.Int32", "Edm.Byte") else code


def _reference(s: Spec) -> Generator:
    target = _REFERENCES[s.name]
    prefix, rows = s.store.guid_prefix(target, s.table.division), s.store.rows_for(target)
    salt = s.salt
    return lambda i: f"{prefix}{(i * 7 + salt) % rows:012x}" if rows else None


def _guid(s: Spec) -> Generator:
    prefix = f"{stable_hash(s.config.seed, s.table.path, s.name):032x}"[:24]
    salt = s.salt
    return lambda i: None if (i + salt) % 5 == 0 else str(uuid.UUID(prefix + f"{(i * 13 + salt) % 97:08x}"))


def _text(s: Spec) -> Generator:
    name, salt = s.name, s.salt
    return lambda i: None if (i + salt) % 7 == 0 else f"{name} {(i * 31 + salt) % 1000}"


def _int_key(s: Spec) -> Generator:
    if len(s.table.key) > 1 and s.name in ("Year", "ReportingYear", "FinancialYear"):
        return lambda i: 2020 + i // 12  # with Period below: a unique (period, year) per row, 12 to a year
    if len(s.table.key) > 1 and s.name in ("Period", "FinancialPeriod", "ReportingPeriod"):
        return lambda i: 1 + i % 12
    return (lambda i: str(i + 1)) if s.edm == "Edm.Int64" else (lambda i: i + 1)


def _small_code(s: Spec) -> Generator:
    # [U] an enumeration the reference does not document: small codes, never 989.
    salt = s.salt
    if s.edm == "Edm.Int64":
        return lambda i: str((i + salt) % 3)
    return lambda i: (i + salt) % 3


def _int(s: Spec) -> Generator:
    mod, salt = _INT_MOD[s.edm], s.salt
    if s.edm == "Edm.Int64":
        return lambda i: str((i * 31 + salt) % mod)
    return lambda i: (i * 31 + salt) % mod


def _date(s: Spec) -> Generator:
    salt = s.salt
    return lambda i: None if (i + salt) % 9 == 0 else f"/Date({_EPOCH_2024_MS + ((i * 37 + salt) % 1000) * _DAY_MS})/"


def _const(value: Any) -> Callable[[Spec], Generator]:
    return lambda s: lambda i: value


_RULES: tuple[Rule, ...] = (
    (_named("Timestamp"), _timestamp),
    (lambda s: s.name == "Division" and s.edm.startswith("Edm.Int"), _division),
    (lambda s: bool(s.field.values) and not s.is_key, _domain),
    # Guids: keys map back to their row; user fields are the one user; links and references point at real rows
    (_all(_edm("Edm.Guid"), lambda s: s.is_key), lambda s: s.table.seed_guid),
    (_all(_edm("Edm.Guid"), _named("Creator", "Modifier", "UserID", "DeletedBy")), _user),
    (_all(_edm("Edm.Guid"), _is_parent_key), _parent_key),
    (_all(_edm("Edm.Guid"), lambda s: s.name in _REFERENCES), _reference),
    (_edm("Edm.Guid"), _guid),
    # Strings
    (
        _all(_edm("Edm.String"), lambda s: s.is_key),
        lambda s: (lambda p: lambda i: f"{p}{i + 1:05d}")(s.name[:3].upper()),
    ),
    (
        lambda s: s.edm == "Edm.String" and s.name == "Code" and s.table.path == "crm/Accounts",
        lambda s: lambda i: f"{i + 1:>18}",  # Exact's 18-wide, right-aligned account code
    ),
    (
        _all(_edm("Edm.String"), _named("Code", "SearchCode")),
        lambda s: (lambda p: lambda i: f"{p}{i + 1:05d}")(s.single[:3].upper()),
    ),
    (
        _all(_edm("Edm.String"), _named("Name", "Description", "FullName")),
        lambda s: (lambda p: lambda i: f"{p} {i + 1}")(s.single),
    ),
    (lambda s: s.edm == "Edm.String" and "Email" in s.name, lambda s: lambda i: f"contact{i + 1}@example.com"),
    (
        _all(_edm("Edm.String"), _named("City")),
        lambda s: (lambda salt: lambda i: _CITIES[(i + salt) % len(_CITIES)])(s.salt),
    ),
    (_all(_edm("Edm.String"), _named("Country")), lambda s: lambda i: ("NL", "BE", "DE")[i % 3]),
    (
        lambda s: s.edm == "Edm.String" and "Currency" in s.name and "Description" not in s.name,
        _const("EUR"),
    ),
    (
        lambda s: s.edm == "Edm.String" and ("Phone" in s.name or s.name == "Fax"),
        lambda s: (lambda salt: lambda i: f"+31 20 {(i * 7919 + salt) % 10_000_000:07d}")(s.salt),
    ),
    (_edm("Edm.String"), _text),
    # Integers
    (_all(lambda s: s.edm in _INTS, lambda s: s.is_key), _int_key),
    (
        _all(lambda s: s.edm in _INTS, _named("Year", "ReportingYear", "FinancialYear")),
        lambda s: lambda i: 2020 + i % 7,
    ),
    (
        _all(lambda s: s.edm in _INTS, _named("Period", "FinancialPeriod", "ReportingPeriod")),
        lambda s: lambda i: 1 + i % 12,
    ),
    (
        lambda s: s.edm in _INTS and s.name.endswith("Number"),
        lambda s: (lambda i: str(i + 1)) if s.edm == "Edm.Int64" else (lambda i: i + 1),
    ),
    (lambda s: s.edm in _INTS and s.name.endswith(("Status", "Type")), _small_code),
    (lambda s: s.edm in _INTS, _int),
    # The rest
    (
        _edm("Edm.Double"),
        lambda s: (lambda salt: lambda i: ((i * 7919 + salt * 13) % 1_000_000) / 100)(s.salt),
    ),
    (_edm("Edm.Boolean"), lambda s: (lambda salt: lambda i: (i + salt) % 3 == 0)(s.salt)),
    (
        _all(_edm("Edm.DateTime"), _named("Created", "Modified")),
        lambda s: lambda i: f"/Date({_EPOCH_2024_MS + i * 60_000})/",
    ),
    (_edm("Edm.DateTime"), _date),
)


def _generator(spec: Spec) -> Generator:
    for condition, make in _RULES:
        if condition(spec):
            return make(spec)
    return lambda i: None


# --- tables with exact values ---------------------------------------------------------------------------------


def _divisions(store: Store, gens: dict[str, Generator]) -> None:
    divs = store.config.divisions
    gens["Status"] = lambda i: 1  # the reference's "Active"
    gens["BlockingStatus"] = lambda i: 0  # "Not blocked"
    gens["Code"] = lambda i: divs[i % len(divs)]
    gens["Description"] = lambda i: f"Emulated company {divs[i % len(divs)]}"
    gens["Current"] = lambda i: i == 0
    gens["Customer"] = lambda i: store.seed_key("crm/Accounts", divs[i % len(divs)], 0)


def _me(store: Store, gens: dict[str, Generator]) -> None:
    cfg = store.config
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


def _users(store: Store, gens: dict[str, Generator]) -> None:
    gens["UserID"] = lambda i: store.user_id
    gens["UserName"] = lambda i: store.config.user_name


_TABLES: dict[str, Callable[[Store, dict[str, Generator]], None]] = {
    "system/Divisions": _divisions,
    "system/AllDivisions": _divisions,
    "current/Me": _me,
    "system/Users": _users,
}


def lines_per_parent(child_table: str) -> int:
    """Seed lines per header: three for ``...Lines`` tables, one for other children."""
    return 3 if child_table.endswith("Lines") else 1


def references(table: Table) -> dict[str, str]:
    """Guid fields of ``table`` that point at another table: reference fields and link fields -> table path."""
    out = {name: target for name, target in _REFERENCES.items() if name in table.fields and name not in table.key}
    out.update({r.column: r.parent for r in catalog().parents_of(table.path)})
    return {name: target for name, target in out.items() if table.fields[name].edm_type == "Edm.Guid"}


_COMPANIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("FullName", ("FullName", "Name")),
    ("Name", ("Name", "FullName", "Description")),
    ("Description", ("Description", "Name")),
    ("Code", ("Code",)),
)


def companions(table: Table) -> dict[str, tuple[str, str, str]]:
    """Fields that repeat a referenced row's value: ``CustomerName`` -> (``Customer``, crm/Accounts, ``Name``)."""
    out: dict[str, tuple[str, str, str]] = {}
    refs = references(table)
    fields_of = catalog().table_fields
    for ref, target in refs.items():
        target_fields, _ = fields_of(target)
        for suffix, candidates in _COMPANIONS:
            name = ref + suffix
            f = table.fields.get(name)
            source = next((c for c in candidates if c in target_fields), None)
            if f is not None and f.edm_type == "Edm.String" and source is not None and name not in out:
                out[name] = (ref, target, source)
    return out


def generators(store: Store, table: Table) -> dict[str, Generator]:
    """One value function per scalar field of ``table``."""
    gens: dict[str, Generator] = {}
    for name, f in table.fields.items():
        if not f.is_navigation:
            gens[name] = _generator(Spec(store, table, name, f.edm_type, stable_hash(name) % 1000, f))
    special = _TABLES.get(table.path)
    if special is not None:
        special(store, gens)
    for name, f in table.fields.items():
        # Amounts in the division's currency equal those in the transaction's (seed rows are in EUR, rate 1).
        fc = name[:-2] + "FC"
        if (
            name.endswith("DC")
            and f.edm_type == "Edm.Double"
            and fc in gens
            and table.fields[fc].edm_type == f.edm_type
        ):
            gens[name] = gens[fc]
    for name, (ref, target, source) in companions(table).items():
        gens[name] = _companion(store, table.division, gens[ref], target, source)
    for name, (code_field, labels) in labels_of(table).items():
        gens[name] = _label(gens[code_field], labels)
    return gens


def _label(code: Generator, labels: dict[str, str]) -> Generator:
    return lambda i: labels.get(str(code(i)))


def labels_of(table: Table) -> dict[str, tuple[str, dict[str, str]]]:
    """``StatusDescription`` -> (``Status``, its documented code -> label map): Exact describes a code in words."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for name, f in table.fields.items():
        described = table.fields.get(name + "Description")
        if f.values and described is not None and described.edm_type == "Edm.String":
            out[described.name] = (name, dict(f.values))
    return out


def _companion(store: Store, division: int, ref: Generator, target: str, source: str) -> Generator:
    def value(i: int) -> Any:
        key = ref(i)
        if key is None:
            return None
        other = store.table(target, division)
        j = other.index_of_key((key,))
        return None if j is None else other.value(j, source)

    return value
