"""OData builder: Exact's literal formats, injection-proof field names, v4 refusals; hypothesis round trips."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk import edm
from exact_online_sdk import odata as q
from exact_online_sdk.exceptions import ODataError

G = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.mark.parametrize(
    ("value", "edm_type", "expected"),
    [
        (None, None, "null"),
        (True, None, "true"),
        (False, "Edm.Boolean", "false"),
        (uuid.UUID(G), None, f"guid'{G}'"),
        (G.upper(), "Edm.Guid", f"guid'{G}'"),
        (datetime(2024, 1, 2, 3, 4, 5), None, "datetime'2024-01-02T03:04:05'"),
        (datetime(2024, 1, 2, 3, 4, 5, 120000), None, "datetime'2024-01-02T03:04:05.120'"),
        (datetime(2024, 1, 2, 4, 0, tzinfo=timezone(timedelta(hours=1))), None, "datetime'2024-01-02T03:00:00'"),
        (date(2024, 1, 2), None, "datetime'2024-01-02T00:00:00'"),
        ("2024-01-02", "Edm.DateTime", "datetime'2024-01-02T00:00:00'"),
        (123, "Edm.Int64", "123L"),
        ("123", "Edm.Int64", "123L"),
        (q.Int64(5), None, "5L"),
        (7, None, "7"),
        (Decimal("1E+3"), None, "1000"),
        (Decimal("0.10"), None, "0.10"),
        (0.1, None, "0.1"),
        ("O'Brien", None, "'O''Brien'"),
        ("", None, "''"),
    ],
)
def test_literals(value: object, edm_type: str | None, expected: str) -> None:
    assert q.literal(value, edm_type) == expected


@pytest.mark.parametrize(
    ("value", "edm_type"),
    [
        ("not-a-guid", "Edm.Guid"),
        ("yesterday", "Edm.DateTime"),
        (float("nan"), None),
        (Decimal("inf"), None),
        (object(), None),
    ],
)
def test_bad_literals(value: object, edm_type: str | None) -> None:
    with pytest.raises(ODataError):
        q.literal(value, edm_type)


def test_composition_and_functions() -> None:
    f = (q.eq("Name", "a") | q.startswith("Name", "b")) & ~q.substringof("x'y", "Email")
    assert str(f) == "(Name eq 'a' or startswith(Name,'b')) and not substringof('x''y',Email)"
    assert str(q.not_(q.eq("A", 1) & q.eq("B", 2))) == "not (A eq 1 and B eq 2)"
    assert str(q.endswith("Code", "25")) == "endswith(Code,'25')"
    assert str(q.and_(q.le("A", 1))) == "A le 1"
    assert str(q.or_(q.lt("A", 1), q.ge("B", 2), q.ne("C", None))) == "A lt 1 or B ge 2 or C ne null"


def test_seed_filters_form_uses_registry_types() -> None:
    f = q.build_filter(
        {"ID": G.upper(), "Timestamp": ("gt", 5), "Modified": ("ge", "2024-01-01"), "Email": ("eq", "x@y.nl")},
        endpoint="crm/Accounts",
    )
    assert str(f) == (
        f"ID eq guid'{G}' and Timestamp gt 5 and Modified ge datetime'2024-01-01T00:00:00' and Email eq 'x@y.nl'"
    )
    sync = q.build_filter({"Timestamp": ("gt", 5)}, endpoint="sync/CRM/Accounts")
    assert str(sync) == "Timestamp gt 5L"
    assert str(q.build_filter({"Name": ("eq", ["a", "b"])})) == "Name eq 'a' or Name eq 'b'"
    assert str(q.build_filter({"Name": ("startswith", "Ac"), "X": ("endswith", "z"), "Y": ("substringof", "q")}))


@pytest.mark.parametrize(
    ("filters", "needle"),
    [
        ({"Name": ("in", ["a"])}, "OData v4"),
        ({"Name": ("like", "a")}, "unknown filter operator"),
        ({"Name eq 'x' or 1": "a"}, "not a valid field name"),
        ({"Name": ("startswith", 5)}, "string value"),
    ],
)
def test_build_filter_errors(filters: dict[str, object], needle: str) -> None:
    with pytest.raises(ODataError, match=needle):
        q.build_filter(filters)


def test_v4_syntax_is_refused_with_advice() -> None:
    with pytest.raises(ODataError, match="or-ed eq"):
        q.Query().filter("Status in (1,2)")
    with pytest.raises(ODataError, match="substringof"):
        q.Query().filter("contains(Name,'x')")
    # text inside quotes is data, not syntax
    assert q.Query().filter("Name eq 'in (x)'").params() == {"$filter": "Name eq 'in (x)'"}
    assert q.Query().filter(q.Raw("Status in (1,2)")).params() == {"$filter": "Status in (1,2)"}


def test_query_builder_params() -> None:
    p = (
        q.Query("crm/Accounts")
        .where(Email=("eq", "x@y.nl"))
        .filter(q.gt("Modified", datetime(2024, 1, 1)))
        .select("ID", "Name")
        .expand("Contacts")
        .orderby("Name", "Modified desc")
        .top(25)
        .inlinecount()
        .params()
    )
    assert p == {
        "$filter": "Email eq 'x@y.nl' and Modified gt datetime'2024-01-01T00:00:00'",
        "$select": "ID,Name",
        "$expand": "Contacts",
        "$orderby": "Name,Modified desc",
        "$top": "25",
        "$inlinecount": "allpages",
    }
    with pytest.raises(ODataError):
        q.Query().top(-1)
    with pytest.raises(ODataError):
        q.Query().orderby("Name sideways")
    with pytest.raises(ODataError):
        q.Query().select("Name,ID")


def test_account_code_padding() -> None:
    assert q.account_code(25) == " " * 16 + "25"
    assert len(q.account_code("ABC")) == 18
    assert str(q.eq("Code", q.account_code(25))) == "Code eq '                25'"
    assert str(q.trim_code()) == "trim(Code)"
    with pytest.raises(ODataError):
        q.account_code("X" * 19)
    with pytest.raises(ODataError):
        q.account_code("  ")


# --- properties ---------------------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(text)
def test_string_literals_round_trip(value: str) -> None:
    lit = q.literal(value)
    assert lit.startswith("'")
    assert lit.endswith("'")
    assert "'" not in lit[1:-1].replace("''", "")  # every inner quote is doubled
    assert q.parse_literal(lit) == value


@given(text)
def test_a_value_never_injects_a_clause(value: str) -> None:
    expr = str(q.eq("Name", value))
    # strip the one literal: what remains is exactly the field and the operator
    assert expr.startswith("Name eq ")
    assert q.parse_literal(expr[len("Name eq ") :]) == value
    assert q.Query().filter(q.eq("Name", value)).params()["$filter"] == expr


def _fits_exact(value: Decimal) -> bool:
    try:
        edm.parse_decimal(value)
    except edm.EdmValueError:
        return False
    return True


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_decimals_have_no_exponent_and_round_trip(value: Decimal) -> None:
    if not _fits_exact(value):  # beyond Edm.Double's range or digit bound: refused, with the reason
        with pytest.raises(ODataError, match=r"Edm\.Double"):
            q.literal(value)
        return
    lit = q.literal(value)
    assert "e" not in lit.lower()
    assert Decimal(lit) == value
    assert q.parse_literal(lit) == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_round_trip(value: int) -> None:
    lit = q.literal(value, "Edm.Int64")
    assert lit.endswith("L")
    parsed = q.parse_literal(lit)
    assert isinstance(parsed, q.Int64)
    assert parsed == value


@given(st.uuids())
def test_guids_round_trip(value: uuid.UUID) -> None:
    assert q.parse_literal(q.literal(value)) == value
    assert q.literal(str(value).upper(), "Edm.Guid") == f"guid'{value}'"


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_datetimes_round_trip_to_the_millisecond(value: datetime) -> None:
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    assert q.parse_literal(q.literal(value)) == value


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_aware_datetimes_are_sent_as_utc(value: datetime) -> None:
    naive = value.replace(tzinfo=None, microsecond=value.microsecond // 1000 * 1000)
    assert q.parse_literal(q.literal(value)) == naive


@given(st.text(max_size=20))
def test_field_names_are_validated(name: str) -> None:
    import re

    valid = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*", name) is not None
    if valid:
        assert str(q.eq(name, 1)) == f"{name} eq 1"
    else:
        with pytest.raises(ODataError):
            q.eq(name, 1)


def test_parse_literal_rejects_garbage() -> None:
    for bad in ["'unterminated", "guid'x'", "1 or 1", "datetime'2024-01-01'"]:
        with pytest.raises(ODataError):
            q.parse_literal(bad)
    assert q.parse_literal("null") is None
    assert q.parse_literal("true") is True
    assert q.parse_literal("12") == 12
    assert q.parse_literal("-1.50") == Decimal("-1.50")
