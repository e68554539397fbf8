"""OData v2 query building with Exact's literal formats.

Literals: ``guid'..'`` for GUIDs (also GUID strings when the field is an ``Edm.Guid``), ``datetime'YYYY-MM-
DDTHH:MM:SS'`` (always with a time part), Int64 with an ``L`` suffix (``Timestamp gt 123L``), strings in single
quotes with ``'`` doubled, decimals without exponent, ``true``/``false`` and ``null``. Field names are checked,
so a value can never inject a clause. OData v4-only syntax (``in``, ``contains``, lambdas) raises
:class:`~exact_online_sdk.exceptions.ODataError` naming the v2 alternative.

    >>> from exact_online_sdk import odata as q
    >>> str(q.eq("Name", "O'Brien") & q.gt("Timestamp", q.Int64(5)))
    "Name eq 'O''Brien' and Timestamp gt 5L"
    >>> q.Query(endpoint="crm/Accounts").where(Email=("eq", "x@y.nl")).select("ID", "Name").top(25).params()
    {'$filter': "Email eq 'x@y.nl'", '$select': 'ID,Name', '$top': '25'}
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from . import edm
from .exceptions import ODataError

__all__ = [
    "Filter",
    "Int64",
    "Query",
    "Raw",
    "account_code",
    "and_",
    "build_filter",
    "endswith",
    "eq",
    "ge",
    "gt",
    "le",
    "literal",
    "lt",
    "ne",
    "not_",
    "or_",
    "parse_literal",
    "parse_typed_literal",
    "startswith",
    "substringof",
    "trim_code",
]

COMPARISONS: Final = ("eq", "ne", "gt", "ge", "lt", "le")
FUNCTIONS: Final = ("substringof", "startswith", "endswith")
_FIELD_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_GUID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_V4_RE: Final = re.compile(r"(?i)(\bin\s*\(|\bcontains\s*\(|/any\s*\(|/all\s*\(|\bhas\s+'|\bnow\s*\(\))")
CODE_WIDTH: Final = 18


class Int64(int):
    """An int sent as an Edm.Int64 literal (``123L``); fields typed Int64 in the registry get it automatically."""


class Raw(str):
    """Escape hatch: text placed in the query exactly as given (no checks, no escaping)."""


@dataclass(frozen=True, slots=True)
class Filter:
    """A ``$filter`` expression; combine with ``&``, ``|`` and ``~``. ``str()`` gives the OData text."""

    text: str
    atomic: bool = True

    def __str__(self) -> str:
        return self.text

    def _group(self) -> str:
        return self.text if self.atomic else f"({self.text})"

    def __and__(self, other: Filter) -> Filter:
        return and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return or_(self, other)

    def __invert__(self) -> Filter:
        return not_(self)


def check_field(name: str) -> str:
    """``name`` if it is a valid (optionally ``/``-navigated) property name, else ODataError."""
    if not isinstance(name, str) or not _FIELD_RE.fullmatch(name):
        raise ODataError(f"not a valid field name: {name!r}")
    return name


def _format_datetime(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # same rule as edm.to_wire_datetime: aware values go to UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond // 1000:03d}"
        return f"datetime'{text}'"
    return f"datetime'{value:%Y-%m-%d}T00:00:00'"


def literal(value: Any, edm_type: str | None = None) -> str:
    """The OData v2 literal of ``value`` as Exact expects it; ``edm_type`` (e.g. ``Edm.Guid``) refines strings
    and ints."""
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return f"guid'{value}'"
    if isinstance(value, datetime | date):
        return _format_datetime(value)
    if isinstance(value, Int64) or (isinstance(value, int) and edm_type == "Edm.Int64"):
        return f"{int(value)}L"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ODataError("NaN and infinity have no OData literal")
        return edm.format_decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ODataError("NaN and infinity have no OData literal")
        return edm.format_decimal(value)
    if isinstance(value, str):
        if edm_type == "Edm.Guid":
            if not _GUID_RE.fullmatch(value.strip()):
                raise ODataError(f"not a GUID for an Edm.Guid field: {value[:40]!r}")
            return f"guid'{value.strip().lower()}'"
        if edm_type == "Edm.DateTime":
            try:
                return _format_datetime(datetime.fromisoformat(value))
            except ValueError:
                raise ODataError(f"not an ISO date/time for an Edm.DateTime field: {value[:40]!r}") from None
        if edm_type == "Edm.Int64" and value.lstrip("-").isdigit():
            return f"{int(value)}L"
        return "'" + value.replace("'", "''") + "'"
    raise ODataError(f"cannot write a {type(value).__name__} as an OData literal")


_LITERAL_RE: Final = re.compile(
    r"^(?:(?P<null>null)|(?P<bool>true|false)|guid'(?P<guid>[0-9a-fA-F-]{36})'"
    r"|datetime'(?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?)'"
    r"|(?P<int64>-?\d+)L|(?P<int>-?\d+)|(?P<dec>-?\d+\.\d+)|'(?P<str>(?:[^']|'')*)')$",
    re.DOTALL,
)


def parse_literal(text: str) -> Any:
    """Inverse of :func:`literal` (for checks and the emulator): ``'O''Brien'`` -> ``"O'Brien"``."""
    m = _LITERAL_RE.fullmatch(text.strip())
    if m is None:
        raise ODataError(f"not an OData v2 literal: {text[:60]!r}")
    if m["null"]:
        return None
    if m["bool"]:
        return m["bool"] == "true"
    if m["guid"]:
        return uuid.UUID(m["guid"])
    if m["dt"]:
        return datetime.fromisoformat(m["dt"][:26])
    if m["int64"] is not None:
        return Int64(int(m["int64"]))
    if m["int"] is not None:
        return int(m["int"])
    if m["dec"] is not None:
        return Decimal(m["dec"])
    return m["str"].replace("''", "'")


_TYPED_RE: Final = re.compile(
    r"^(?:(?P<null>null)|(?P<bool>true|false)"
    r"|(?P<prefix>[A-Za-z]+)'(?P<quoted>[^']*)'"
    r"|(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[LlMmDdFf]?)"
    r"|'(?P<str>(?:[^']|'')*)')$",
    re.DOTALL,
)
_DATETIME_RE: Final = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,7})?)?)Z?$")
_OFFSET_RE: Final = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,7})?)?(?:Z|[+-]\d\d:\d\d)$")
_INT32: Final = range(-(2**31), 2**31)
_NUMBER_TYPES: Final = {"l": "Edm.Int64", "m": "Edm.Decimal", "d": "Edm.Double", "f": "Edm.Single"}


def _unrecognized(edm_type: str, text: str) -> ODataError:
    return ODataError(f"Unrecognized '{edm_type}' literal '{text}'")


def _iso(text: str) -> datetime:
    # Python 3.11 reads at most 6 fraction digits; OData allows 7 (ticks): drop the seventh.
    head, dot, frac = text.partition(".")
    if dot:
        digits = "".join(ch for ch in frac if ch.isdigit())
        frac = digits[:6] + frac[len(digits) :]
    return datetime.fromisoformat(head + dot + frac)


def parse_typed_literal(text: str) -> tuple[Any, str]:
    """An OData v2 literal as it appears in a URL -> ``(value, Edm type name)``; ODataError when malformed.

    The reading side of :func:`literal`, wider than :func:`parse_literal`: also ``datetimeoffset'..'`` (an aware
    datetime), number suffixes ``M`` (Edm.Decimal), ``D`` (Edm.Double) and ``F`` (Edm.Single), exponents, and
    ``datetime'..'`` with a trailing ``Z`` or without seconds. Types: ``null``, ``Edm.Boolean``, ``Edm.Guid``
    (:class:`uuid.UUID`), ``Edm.DateTime`` (naive), ``Edm.DateTimeOffset``, ``Edm.Int32``/``Edm.Int64`` (int),
    ``Edm.Decimal``/``Edm.Double`` (:class:`~decimal.Decimal` when written without exponent, else float),
    ``Edm.Single`` (float) and ``Edm.String``.
    """
    m = _TYPED_RE.fullmatch(text.strip())
    if m is None:
        raise ODataError(f"not an OData v2 literal: {text[:60]!r}")
    if m["null"]:
        return None, "null"
    if m["bool"]:
        return m["bool"] == "true", "Edm.Boolean"
    if m["str"] is not None:
        return m["str"].replace("''", "'"), "Edm.String"
    if m["num"] is not None:
        return _typed_number(m["num"], m["suffix"].lower(), text)
    prefix, quoted = m["prefix"], m["quoted"]
    if prefix == "guid":
        if not _GUID_RE.fullmatch(quoted):
            raise _unrecognized("Edm.Guid", text)
        return uuid.UUID(quoted), "Edm.Guid"
    if prefix == "datetime":
        dm = _DATETIME_RE.fullmatch(quoted)
        if dm is None:
            raise _unrecognized("Edm.DateTime", text)
        try:
            return _iso(dm.group(1)), "Edm.DateTime"
        except ValueError:
            raise _unrecognized("Edm.DateTime", text) from None
    if prefix == "datetimeoffset":
        if not _OFFSET_RE.fullmatch(quoted):
            raise _unrecognized("Edm.DateTimeOffset", text)
        try:
            return _iso(quoted.replace("Z", "+00:00")), "Edm.DateTimeOffset"
        except ValueError:
            raise _unrecognized("Edm.DateTimeOffset", text) from None
    raise ODataError(f"unknown OData v2 literal prefix {prefix!r} in {text[:60]!r}")


def _typed_number(num: str, suffix: str, text: str) -> tuple[Any, str]:
    integral = re.fullmatch(r"[+-]?\d+", num) is not None
    if suffix == "l":
        if not integral:
            raise _unrecognized("Edm.Int64", text)
        return int(num), "Edm.Int64"
    if suffix in ("d", "f") or "e" in num.lower():
        return float(num), _NUMBER_TYPES.get(suffix, "Edm.Double")
    if suffix == "m":
        return Decimal(num), "Edm.Decimal"
    if integral:
        value = int(num)
        return value, "Edm.Int32" if value in _INT32 else "Edm.Int64"
    return Decimal(num), "Edm.Double"


def _field_type(endpoint: str | None, field: str) -> str | None:
    if endpoint is None:
        return None
    from .registry import registry  # loaded on first use

    ep = registry().get(endpoint)
    if ep is None:
        return None
    found = ep.field(field.split("/", 1)[0])
    return found.edm_type if found is not None else None


def _compare(op: str, field: str, value: Any, edm_type: str | None = None) -> Filter:
    return Filter(f"{check_field(field)} {op} {literal(value, edm_type)}")


def eq(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field eq value``."""
    return _compare("eq", field, value, edm_type)


def ne(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field ne value``."""
    return _compare("ne", field, value, edm_type)


def gt(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field gt value``."""
    return _compare("gt", field, value, edm_type)


def ge(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field ge value``."""
    return _compare("ge", field, value, edm_type)


def lt(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field lt value``."""
    return _compare("lt", field, value, edm_type)


def le(field: str, value: Any, edm_type: str | None = None) -> Filter:
    """``field le value``."""
    return _compare("le", field, value, edm_type)


def _text_arg(value: Any) -> str:
    if not isinstance(value, str):
        raise ODataError("substringof/startswith/endswith take a string value")
    return literal(value)


def substringof(value: str, field: str) -> Filter:
    """``substringof('value', field)`` (OData v2 argument order: the needle first)."""
    return Filter(f"substringof({_text_arg(value)},{check_field(field)})")


def startswith(field: str, value: str) -> Filter:
    """``startswith(field,'value')``."""
    return Filter(f"startswith({check_field(field)},{_text_arg(value)})")


def endswith(field: str, value: str) -> Filter:
    """``endswith(field,'value')``."""
    return Filter(f"endswith({check_field(field)},{_text_arg(value)})")


def _join(op: str, parts: Iterable[Filter | str]) -> Filter:
    items = [p if isinstance(p, Filter) else Filter(str(p), atomic=False) for p in parts]
    if not items:
        raise ODataError(f"{op} needs at least one expression")
    if len(items) == 1:
        return items[0]
    return Filter(f" {op} ".join(i._group() for i in items), atomic=False)


def and_(*parts: Filter | str) -> Filter:
    """All of ``parts``."""
    return _join("and", parts)


def or_(*parts: Filter | str) -> Filter:
    """Any of ``parts``."""
    return _join("or", parts)


def not_(part: Filter) -> Filter:
    """The negation of ``part``."""
    return Filter(f"not {part._group()}" if part.atomic else f"not ({part.text})")


def check_v2(expression: str) -> str:
    """``expression`` unless it uses OData v4-only syntax Exact rejects."""
    outside_quotes = re.sub(r"'(?:[^']|'')*'", "''", expression)
    m = _V4_RE.search(outside_quotes)
    if m:
        word = m.group(1).strip().split("(")[0].strip("/ ").lower()
        hint = {
            "in": "use or-ed eq comparisons (odata.or_(odata.eq(f, a), odata.eq(f, b)))",
            "contains": "use substringof('text',Field)",
        }.get(word, "Exact speaks OData v2")
        raise ODataError(f"{word!r} is OData v4 syntax that Exact does not support: {hint}")
    return expression


def build_filter(filters: Mapping[str, Any], *, endpoint: str | None = None) -> Filter:
    """The seed form ``{"Email": ("eq", "x"), "Code": 5}`` (a bare value means ``eq``), joined with ``and``.

    With ``endpoint`` (``"crm/Accounts"``) the registry's field types pick the literal (Guid, Int64, DateTime).
    """
    parts = []
    for field, spec in filters.items():
        check_field(field)
        op, value = spec if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) else ("eq", spec)
        op = op.strip().lower()
        edm_type = _field_type(endpoint, field)
        if op == "in":
            raise ODataError("'in' is OData v4 syntax that Exact does not support: give a list of eq alternatives")
        if op in COMPARISONS:
            if isinstance(value, list | tuple | set):
                parts.append(or_(*(_compare(op, field, v, edm_type) for v in value)))
            else:
                parts.append(_compare(op, field, value, edm_type))
        elif op == "substringof":
            parts.append(substringof(value, field))
        elif op == "startswith":
            parts.append(startswith(field, value))
        elif op == "endswith":
            parts.append(endswith(field, value))
        else:
            raise ODataError(f"unknown filter operator {op!r} for {field} (use {', '.join(COMPARISONS + FUNCTIONS)})")
    return and_(*parts)


def account_code(code: str | int) -> str:
    """Exact's 18-character, left-padded account ``Code``: ``25`` -> ``'                25'``."""
    text = str(code).strip()
    if not text or len(text) > CODE_WIDTH:
        raise ODataError(f"an account code has 1 to {CODE_WIDTH} characters, got {len(text)}")
    return text.rjust(CODE_WIDTH)


def trim_code(field: str = "Code") -> Raw:
    """``trim(Code)``, to compare a code without padding: ``Raw(f"{trim_code()} eq '25'")``."""
    return Raw(f"trim({check_field(field)})")


class Query:
    """Fluent builder of query options; :meth:`params` gives the dict for ``client.get``/``iter_rows``."""

    def __init__(self, endpoint: str | None = None) -> None:
        self.endpoint = endpoint
        self._filters: list[Filter] = []
        self._select: list[str] = []
        self._expand: list[str] = []
        self._orderby: list[str] = []
        self._top: int | None = None
        self._inlinecount = False

    def filter(self, *expressions: Filter | str) -> Query:
        """Add expressions (and-ed). Plain strings are checked for v4 syntax; :class:`Raw` is not."""
        for e in expressions:
            if isinstance(e, Filter):
                self._filters.append(e)
            elif isinstance(e, Raw):
                self._filters.append(Filter(str(e), atomic=False))
            else:
                self._filters.append(Filter(check_v2(str(e)), atomic=False))
        return self

    def where(self, filters: Mapping[str, Any] | None = None, /, **kw: Any) -> Query:
        """Seed-style filters: ``where(Email=("eq", "x"))`` or ``where({"Email": "x"})``."""
        self._filters.append(build_filter({**(filters or {}), **kw}, endpoint=self.endpoint))
        return self

    def select(self, *fields: str) -> Query:
        """``$select``."""
        self._select.extend(check_field(f) for f in fields)
        return self

    def expand(self, *fields: str) -> Query:
        """``$expand``."""
        self._expand.extend(check_field(f) for f in fields)
        return self

    def orderby(self, *fields: str) -> Query:
        """``$orderby``; a field may end in `` desc`` or `` asc``."""
        for f in fields:
            name, _, direction = f.strip().partition(" ")
            if direction.strip().lower() not in ("", "asc", "desc"):
                raise ODataError(f"bad $orderby direction in {f!r}")
            self._orderby.append(f"{check_field(name)} {direction.strip().lower()}".strip())
        return self

    def top(self, n: int) -> Query:
        """``$top`` (a cap on the whole result in this SDK, not a page size)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ODataError("$top must be a non-negative integer")
        self._top = n
        return self

    def inlinecount(self, on: bool = True) -> Query:
        """``$inlinecount=allpages`` (Exact then reports ``__count``)."""
        self._inlinecount = on
        return self

    def params(self) -> dict[str, str]:
        """The query options as a dict."""
        out: dict[str, str] = {}
        if self._filters:
            out["$filter"] = str(and_(*self._filters))
        if self._select:
            out["$select"] = ",".join(self._select)
        if self._expand:
            out["$expand"] = ",".join(self._expand)
        if self._orderby:
            out["$orderby"] = ",".join(self._orderby)
        if self._top is not None:
            out["$top"] = str(self._top)
        if self._inlinecount:
            out["$inlinecount"] = "allpages"
        return out
