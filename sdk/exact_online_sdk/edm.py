"""Exact Online wire types (OData v2 "Edm" values) and their Python forms.

One rule for dates, used everywhere in this package (SDK, models, emulator):

    Exact writes ``/Date(ms)/`` values as its *wall-clock* time (the administration's local time) encoded as if
    it were UTC. We therefore read the milliseconds as UTC fields and return a **naive** ``datetime`` holding
    that wall-clock time. A date-only field (midnight) stays on its own day, whatever the reader's timezone.
    Writing reverses the rule: a naive value is sent as is; an aware value is first converted to UTC.

Money and quantities are ``Edm.Double`` on the wire but :class:`decimal.Decimal` here: every non-integer JSON number
becomes a Decimal made from its text (see :func:`loads`), so ``1.10`` stays ``Decimal("1.10")`` with no float round
trip. The typed rows of :mod:`exact_online_sdk.models` read money the same way.
``Edm.Int64`` arrives as a JSON string in OData v2 verbose JSON; :func:`parse_int64` takes strings and numbers.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from .exceptions import ExactOnlineError

if TYPE_CHECKING:
    import msgspec

__all__ = [
    "EPOCH",
    "EdmValueError",
    "dumps",
    "format_date_value",
    "format_datetime",
    "format_decimal",
    "loads",
    "parse_binary",
    "parse_boolean",
    "parse_datetime",
    "parse_decimal",
    "parse_guid",
    "parse_int",
    "parse_int64",
    "to_wire_datetime",
]

EPOCH: Final = datetime(1970, 1, 1)

_DATE_RE: Final = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class EdmValueError(ExactOnlineError, ValueError):
    """A value on the wire does not fit its declared Edm type."""

    def __init__(self, edm_type: str, value: object, reason: str = "") -> None:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"not a valid {edm_type}: {shown}"
        super().__init__(f"{msg} ({reason})" if reason else msg)
        self.edm_type = edm_type


# --- JSON -------------------------------------------------------------------------------------------------


@cache
def _decoder() -> tuple[msgspec.json.Decoder[Any], type[Exception]]:
    import msgspec  # on first use: importing the package stays cheap

    return msgspec.json.Decoder(float_hook=Decimal), msgspec.DecodeError


def loads(data: str | bytes | bytearray) -> Any:
    """Parse Exact JSON with every non-integer number as an exact :class:`Decimal` (made from the number's text).

    Decoded by msgspec in C; what it refuses (``NaN``, bad UTF-8, broken JSON) goes to the standard library, which
    parses it the same way or raises its usual :class:`json.JSONDecodeError` / :class:`UnicodeDecodeError`.
    """
    decoder, refused = _decoder()
    try:
        return decoder.decode(data)
    except refused:
        return json.loads(data, parse_float=Decimal)


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # Emitted as a JSON number with its exact digits; see dumps().
        return _RawNumber(format_decimal(value))
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_datetime(datetime(value.year, value.month, value.day))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot send a {type(value).__name__} to Exact as JSON")


class _RawNumber(str):
    """Marker for a number literal that must be written without quotes."""

    __slots__ = ()


def dumps(obj: Any) -> bytes:
    """Serialize a request body for Exact: Decimal as exact JSON numbers, dates as ISO, UUIDs as strings."""
    # The stdlib encoder cannot emit a custom number literal, so Decimals go out as marked strings (a fresh
    # random marker per call, so no caller text can forge one) that are unquoted afterwards.
    mark = uuid.uuid4().hex
    found = False

    def default(value: object) -> Any:
        nonlocal found
        out = _json_default(value)
        if isinstance(out, _RawNumber):
            found = True
            return f"{mark}{out}{mark}"
        return out

    text = json.dumps(obj, default=default, ensure_ascii=False, separators=(",", ":"))
    if found:
        text = re.sub(f'"{mark}(-?[0-9.]+){mark}"', r"\1", text)
    return text.encode("utf-8")


# --- Edm.DateTime -----------------------------------------------------------------------------------------


def parse_datetime(value: object) -> datetime | None:
    """``/Date(ms)/`` (optionally with an offset), ISO 8601 text or a datetime -> naive wall-clock datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise EdmValueError("Edm.DateTime", value, "expected /Date(ms)/ or ISO 8601 text")
    match = _DATE_RE.match(value)
    if match:
        millis = int(match.group(1))
        try:
            # Integer arithmetic keeps milliseconds exact; the offset, when present, is informational:
            # the ms already encode the wall-clock time (see module docstring).
            return EPOCH + timedelta(milliseconds=millis)
        except OverflowError as exc:
            raise EdmValueError("Edm.DateTime", value, "out of range") from exc
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EdmValueError("Edm.DateTime", value, "expected /Date(ms)/ or ISO 8601 text") from exc
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def to_wire_datetime(value: datetime | date) -> str:
    """A datetime as Exact sends it in responses: ``/Date(ms)/`` (used by the emulator)."""
    naive = parse_datetime(value)
    assert naive is not None
    delta = naive - EPOCH
    millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return f"/Date({millis})/"


def format_datetime(value: datetime | date) -> str:
    """A datetime for a request body: ISO 8601 wall-clock text without offset (milliseconds kept if any)."""
    naive = parse_datetime(value)
    assert naive is not None
    if naive.microsecond:
        return naive.isoformat(timespec="milliseconds")
    return naive.isoformat(timespec="seconds")


def format_date_value(value: datetime | date) -> str:
    """The ``YYYY-MM-DDTHH:MM:SS`` text used inside an OData ``datetime'...'`` literal."""
    naive = parse_datetime(value)
    assert naive is not None
    return naive.replace(microsecond=0).isoformat(timespec="seconds")


# --- numbers ----------------------------------------------------------------------------------------------


def parse_int64(value: object) -> int | None:
    """Edm.Int64 from a JSON string (OData v2 verbose) or number."""
    return parse_int(value, "Edm.Int64")


def parse_int(value: object, edm_type: str = "Edm.Int32") -> int | None:
    """An Edm integer from int, integral Decimal or digit string; bool and fractions are refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise EdmValueError(edm_type, value, "booleans are not integers")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        if not Decimal(value).is_finite() or Decimal(value) != Decimal(value).to_integral_value():
            raise EdmValueError(edm_type, value, "has a fractional part")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        raise EdmValueError(edm_type, value, "expected digits")
    raise EdmValueError(edm_type, value)


def parse_decimal(value: object) -> Decimal | None:
    """Edm.Double money/quantity -> Decimal without a float round trip (a float input is read by its repr)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise EdmValueError("Edm.Double", value, "booleans are not numbers")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest text that round-trips, so 0.1 -> "0.1" -> Decimal("0.1").
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise EdmValueError("Edm.Double", value, "expected a number") from exc
    else:
        raise EdmValueError("Edm.Double", value)
    if not result.is_finite():
        raise EdmValueError("Edm.Double", value, "NaN and infinity are not valid amounts")
    return result


def format_decimal(value: Decimal | int) -> str:
    """A Decimal as plain digits, never in exponent form (``1E+2`` -> ``100``, ``1E-7`` -> ``0.0000001``)."""
    dec = Decimal(value)
    if not dec.is_finite():
        raise EdmValueError("Edm.Double", value, "NaN and infinity are not valid amounts")
    text = format(dec, "f")
    return "0" if text in ("-0", "+0") else text


# --- other scalars ----------------------------------------------------------------------------------------


def parse_guid(value: object) -> uuid.UUID | None:
    """Edm.Guid from text (with or without braces/``guid'...'``) or a UUID."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("guid'") and text.endswith("'"):
            text = text[5:-1]
        try:
            return uuid.UUID(text)
        except ValueError as exc:
            raise EdmValueError("Edm.Guid", value) from exc
    raise EdmValueError("Edm.Guid", value)


def parse_boolean(value: object) -> bool | None:
    """Edm.Boolean from a JSON boolean (or the text ``true``/``false``)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise EdmValueError("Edm.Boolean", value)


def parse_binary(value: object) -> bytes | None:
    """Edm.Binary: base64 text -> bytes."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise EdmValueError("Edm.Binary", value, "expected base64") from exc
    raise EdmValueError("Edm.Binary", value)
