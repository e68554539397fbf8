"""The query engine's ``$filter``: the OData v2 subset Exact supports, parsed once into a predicate over rows.

Grammar: ``or`` < ``and`` < ``not`` < comparison (eq ne gt ge lt le) < primary, where a primary is a field, a
literal (read by the SDK's codec, :func:`exact_online_sdk.odata.parse_typed_literal`: ``'text'``, ``guid'..'``,
``datetime'..'``, ``123``, ``123L``, ``1.5``, ``1.5M``, ``true``, ``false``, ``null``), a parenthesised expression
or a function call (substringof, startswith, endswith, trim, tolower, toupper, length, year, month, day). Like
Exact, only field-versus-constant comparisons are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..exceptions import ODataError
from ..odata import parse_typed_literal
from ..registry import Field

__all__ = ["FilterError", "Predicate", "compile_filter"]

Getter = Callable[[str], Any]
Predicate = Callable[[Getter], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<typed>[A-Za-z]+'[^']*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?(?![A-Za-z0-9_]))
    | (?P<name>[A-Za-z_][A-Za-z0-9_/]*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"substringof", "startswith", "endswith", "trim", "tolower", "toupper", "length", "year", "month", "day"}
_INT_TYPES = {"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"}
_NUMBER_TYPES = _INT_TYPES | {"Edm.Double", "Edm.Decimal", "Edm.Single"}
_LITERAL_TYPES = {"guid": "Edm.Guid", "datetime": "Edm.DateTime", "datetimeoffset": "Edm.DateTimeOffset"}


class FilterError(ValueError):
    """A ``$filter`` Exact would refuse; ``str()`` is Exact's message text."""


@dataclass(frozen=True)
class _Lit:
    value: Any
    edm: str


@dataclass(frozen=True)
class _FieldRef:
    name: str
    edm: str


@dataclass(frozen=True)
class _Call:
    func: str
    args: tuple[Any, ...]
    edm: str


def _tokens(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """The tokens of ``text`` and the character position each starts at (WCF reports character positions)."""
    out: list[tuple[str, str]] = []
    starts: list[int] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            where = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise FilterError(f"Syntax error at position {where} in '{text}'.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        starts.append(m.start(kind))
        pos = m.end()
    return out, starts


class _Parser:
    def __init__(self, text: str, fields: dict[str, Field], allowed: frozenset[str] | None) -> None:
        self.text = text
        self.toks, self.starts = _tokens(text)
        self.pos = 0
        self.fields = fields
        self.allowed = allowed
        self.used: list[str] = []

    def at(self) -> int:
        """The character position of the next token (the end of the text when there is none)."""
        return self.starts[self.pos] if self.pos < len(self.starts) else len(self.text.rstrip())

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError(f"Expression expected at position {self.at()} in '{self.text}'.")
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        where = self.at()
        tok = self.take()
        if tok[1] != value:
            raise FilterError(f"')' or ',' expected at position {where} in '{self.text}'.")

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Syntax error at position {self.at()} in '{self.text}'.")
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while self._word("or"):
            right = self.and_expr()
            left = (lambda a, b: lambda g: a(g) or b(g))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.not_expr()
        while self._word("and"):
            right = self.not_expr()
            left = (lambda a, b: lambda g: a(g) and b(g))(left, right)
        return left

    def not_expr(self) -> Predicate:
        if self._word("not"):
            inner = self.not_expr()
            return lambda g: not inner(g)
        return self.comparison()

    def _word(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1].lower() == word:
            self.pos += 1
            return True
        return False

    def comparison(self) -> Predicate:
        left = self.primary()
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1].lower() in _COMPARE:
            op = self.take()[1].lower()
            right = self.primary()
            return _compare(op, left, right)
        if callable(left):
            return left  # type: ignore[no-any-return]
        if isinstance(left, _Call) and left.edm == "Edm.Boolean":
            return lambda g: bool(_eval(left, g))
        if isinstance(left, _FieldRef) and left.edm == "Edm.Boolean":
            return lambda g: bool(g(left.name))
        raise FilterError(f"Expression of type 'Edm.Boolean' expected at position {self.at()} in '{self.text}'.")

    def primary(self) -> Any:
        where = self.at()
        kind, text = self.take()
        if kind == "punct" and text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if kind in ("typed", "string", "number"):
            return self.literal(text)
        if kind == "name":
            low = text.lower()
            if low in ("true", "false"):
                return _Lit(low == "true", "Edm.Boolean")
            if low == "null":
                return _Lit(None, "null")
            nxt = self.peek()
            if low in _FUNCS and nxt is not None and nxt[1] == "(":
                return self.call(low)
            return self.field(text)
        raise FilterError(f"Expression expected at position {where} in '{self.text}'.")

    def literal(self, text: str) -> _Lit:
        try:
            value, edm = parse_typed_literal(text)
        except ODataError:
            prefix = text.split("'", 1)[0]
            edm = _LITERAL_TYPES.get(prefix, "Edm.String" if text.startswith("'") else "literal")
            raise FilterError(f"Unrecognized '{edm}' literal '{text}' in '{self.text}'.") from None
        if edm == "Edm.Guid":
            return _Lit(str(value), edm)
        if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
            when = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
            return _Lit(round((when - datetime(1970, 1, 1)).total_seconds() * 1000), edm)
        return _Lit(value, edm)

    def call(self, func: str) -> _Call:
        self.expect("(")
        args = [self.primary()]
        while self.peek() is not None and self.peek() == ("punct", ","):
            self.take()
            args.append(self.primary())
        self.expect(")")
        arity = {"substringof": 2, "startswith": 2, "endswith": 2}.get(func, 1)
        if len(args) != arity:
            raise FilterError(f"No function signature for the function with name '{func}' matches the arguments.")
        edm = {"trim": "Edm.String", "tolower": "Edm.String", "toupper": "Edm.String"}.get(func, "Edm.Boolean")
        if func in ("length", "year", "month", "day"):
            edm = "Edm.Int32"
        fields = [a for a in args if isinstance(a, _FieldRef | _Call)]
        if len(fields) != 1:
            raise FilterError("This $filter parameter is not supported for this resource")
        return _Call(func, tuple(args), edm)

    def field(self, name: str) -> _FieldRef:
        f = self.fields.get(name)
        if f is None or f.is_navigation or "/" in name:
            raise FilterError(f"Filtering on these fields is not supported: {name}")
        if self.allowed is not None and name not in self.allowed:
            raise FilterError(f"Filtering on these fields is not supported: {name}")
        self.used.append(name)
        return _FieldRef(name, f.edm_type)


def _comparable(value: Any, edm: str) -> Any:
    """A wire value in a form that compares correctly (dates and Int64 as ints)."""
    if value is None:
        return None
    if edm == "Edm.DateTime" and isinstance(value, str):
        return int(value[6:-2])
    if edm == "Edm.Int64" and isinstance(value, str):
        return int(value)
    if edm == "Edm.Guid" and isinstance(value, str):
        return value.lower()
    return value


def _eval(node: Any, get: Getter) -> Any:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _FieldRef):
        return _comparable(get(node.name), node.edm)
    call: _Call = node
    vals = [_eval(a, get) for a in call.args]
    f = call.func
    if f in ("trim", "tolower", "toupper", "length"):
        v = vals[0]
        if v is None:
            return None
        text = str(v)
        if f == "length":
            return len(text)
        return text.strip() if f == "trim" else text.lower() if f == "tolower" else text.upper()
    if f in ("year", "month", "day"):
        if vals[0] is None:
            return None
        when = datetime(1970, 1, 1) + timedelta(milliseconds=vals[0])
        return getattr(when, f)
    a, b = vals
    if a is None or b is None:
        return False
    if f == "substringof":
        return str(a).lower() in str(b).lower()
    if f == "startswith":
        return str(a).lower().startswith(str(b).lower())
    return str(a).lower().endswith(str(b).lower())


def _kind(edm: str) -> str:
    if edm in _NUMBER_TYPES:
        return "number"
    return edm


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _compare(op: str, left: Any, right: Any) -> Predicate:
    nodes = (left, right)
    if any(callable(n) and not isinstance(n, _Lit | _FieldRef | _Call) for n in nodes):
        raise FilterError("This $filter parameter is not supported for this resource")
    if sum(isinstance(n, _FieldRef | _Call) for n in nodes) != 1:
        # Exact compares a field with a constant only ("Amount ne Outstanding" fails).
        raise FilterError("This $filter parameter is not supported for this resource")
    lk, rk = _kind(left.edm), _kind(right.edm)
    if "null" not in (lk, rk) and lk != rk:
        raise FilterError(f"Operator '{op}' incompatible with operand types '{left.edm}' and '{right.edm}'.")
    fn = _OPS[op]
    if op in ("eq", "ne"):
        return lambda g: fn(_eval(left, g), _eval(right, g))

    def ordered(g: Getter) -> bool:
        a, b = _eval(left, g), _eval(right, g)
        if a is None or b is None:
            return False
        return fn(a, b)

    return ordered


def compile_filter(
    text: str, fields: dict[str, Field], *, allowed: frozenset[str] | None = None
) -> tuple[Predicate, list[str]]:
    """Compile ``$filter`` text for an entity's fields into (predicate, field names used)."""
    if not text.strip():
        raise FilterError("This $filter parameter is not supported for this resource")
    parser = _Parser(text, fields, allowed)
    return parser.parse(), parser.used
