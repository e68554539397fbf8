"""``odata.parse_typed_literal``: the one literal reader (the emulator's keys, filters and skiptokens use it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk import odata as q
from exact_online_sdk.exceptions import ODataError


@pytest.mark.parametrize(
    ("text", "value", "edm"),
    [
        ("null", None, "null"),
        ("true", True, "Edm.Boolean"),
        ("false", False, "Edm.Boolean"),
        ("guid'3FA85F64-5717-4562-B3FC-2C963F66AFA6'", uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6"), "Edm.Guid"),
        ("datetime'2024-02-29T13:45:01'", datetime(2024, 2, 29, 13, 45, 1), "Edm.DateTime"),
        ("datetime'2024-02-29T13:45'", datetime(2024, 2, 29, 13, 45), "Edm.DateTime"),
        ("datetime'2024-02-29T13:45:01Z'", datetime(2024, 2, 29, 13, 45, 1), "Edm.DateTime"),
        ("datetime'2024-02-29T13:45:01.1234567'", datetime(2024, 2, 29, 13, 45, 1, 123456), "Edm.DateTime"),
        (
            "datetimeoffset'2024-02-29T13:45:01+01:00'",
            datetime(2024, 2, 29, 13, 45, 1, tzinfo=timezone(timedelta(hours=1))),
            "Edm.DateTimeOffset",
        ),
        ("datetimeoffset'2024-02-29T13:45:01Z'", datetime(2024, 2, 29, 13, 45, 1, tzinfo=UTC), "Edm.DateTimeOffset"),
        ("12", 12, "Edm.Int32"),
        ("-12", -12, "Edm.Int32"),
        ("3000000000", 3000000000, "Edm.Int64"),
        ("12L", 12, "Edm.Int64"),
        ("1.50", Decimal("1.50"), "Edm.Double"),
        ("1.5M", Decimal("1.5"), "Edm.Decimal"),
        ("2d", 2.0, "Edm.Double"),
        ("1e3", 1000.0, "Edm.Double"),
        ("2.5f", 2.5, "Edm.Single"),
        ("'O''Brien'", "O'Brien", "Edm.String"),
        ("''", "", "Edm.String"),
    ],
)
def test_typed_literals(text: str, value: object, edm: str) -> None:
    assert q.parse_typed_literal(text) == (value, edm)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("guid'123'", "Unrecognized 'Edm.Guid' literal 'guid'123''"),
        ("datetime'2024-01-01'", "Unrecognized 'Edm.DateTime' literal"),  # Exact wants the time part
        ("datetime'2024-13-01T00:00:00'", "Unrecognized 'Edm.DateTime' literal"),
        ("datetimeoffset'2024-01-01T00:00:00'", "Unrecognized 'Edm.DateTimeOffset' literal"),
        ("1.5L", "Unrecognized 'Edm.Int64' literal"),
        ("bogus'x'", "unknown OData v2 literal prefix 'bogus'"),
        ("'unterminated", "not an OData v2 literal"),
        ("1 or 1", "not an OData v2 literal"),
    ],
)
def test_malformed_literals_name_their_type(text: str, message: str) -> None:
    with pytest.raises(ODataError, match=message.replace("(", r"\(").replace("'", "'")):
        q.parse_typed_literal(text)


@given(st.one_of(st.uuids(), st.text(max_size=30), st.integers(-(2**31), 2**31 - 1), st.booleans()))
def test_reads_back_what_literal_writes(value: object) -> None:
    parsed, _ = q.parse_typed_literal(q.literal(value))
    assert parsed == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_reads_back(value: int) -> None:
    assert q.parse_typed_literal(q.literal(value, "Edm.Int64")) == (value, "Edm.Int64")
