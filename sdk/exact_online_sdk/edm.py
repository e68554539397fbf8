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

Numbers are bounded where they are read, so a hostile or broken body cannot cost seconds of CPU or megabytes of
text (``1e100000000`` is 11 bytes on the wire and 100 MB as digits):

* a JSON integer of up to 19 digits is an ``int`` (Edm.Int64 fields are range-checked where they are typed); a
  longer one must be an integral Edm.Double (at most :data:`MAX_NUMBER_CHARS` characters) and stays an exact
  Decimal;
* any other number must fit Edm.Double: magnitude at most ``1.7976931348623157E+308``, no smaller non-zero
  magnitude than ``1E-324`` (below a double's last subnormal), at most :data:`MAX_SIGNIFICANT_DIGITS`
  significant digits and :data:`MAX_NUMBER_CHARS` digits in all; it stays an exact Decimal;
* ``NaN`` and ``Infinity`` are not JSON and are refused.

Anything else raises :class:`JSONFormatError` (a body) or :class:`EdmValueError` (one value); typed Edm integers
are checked against their type's range (``Edm.Int64``: -2**63 .. 2**63-1).

The bounds cost almost nothing on ordinary pages because they are checked while decoding, not by scanning the text
first. msgspec hands the text of every number with a fraction or an exponent to a decimal context
(``_FAST_NUMBERS``) that makes the Decimal in C and traps anything outside a conservative inner range (the exact
checks above then decide); typed row fields are bounded by their declared ranges (see
:mod:`exact_online_sdk.models`). Untyped integers are the one case msgspec reads unbounded (an ``int`` of up to 4300
digits), so :func:`loads` checks the body for 20 digits in a row first (:func:`needs_exact_reader`, a C-speed pass).
"""

from __future__ import annotations

import base64
import decimal
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
    "DOUBLE_MAX",
    "EPOCH",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_NUMBER_CHARS",
    "MAX_SIGNIFICANT_DIGITS",
    "EdmValueError",
    "JSONFormatError",
    "dumps",
    "format_date_value",
    "format_datetime",
    "format_decimal",
    "loads",
    "needs_exact_reader",
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

_DATE_RE: Final = re.compile(r"^/Date\((-?[0-9]{1,20})([+-][0-9]{4})?\)/$")

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
DOUBLE_MAX: Final = Decimal("1.7976931348623157E+308")
"""The largest finite Edm.Double (IEEE 754 binary64)."""
_DOUBLE_MIN_ADJUSTED: Final = -324
"""The decimal exponent of the smallest subnormal double (4.9E-324); smaller non-zero values do not exist there."""
MAX_SIGNIFICANT_DIGITS: Final = 40
"""More than any double (17), .NET decimal (29) or decimal128 (34) writes; Exact sends doubles."""
MAX_NUMBER_CHARS: Final = 400
"""Digits of a number (and characters of an integer literal): the longest plain-digit Edm.Double (``-0.`` + 323
zeros + 17 digits) fits."""
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    "Edm.Byte": (0, 255),
    "Edm.SByte": (-128, 127),
    "Edm.Int16": (-(2**15), 2**15 - 1),
    "Edm.Int32": (-(2**31), 2**31 - 1),
    "Edm.Int64": (INT64_MIN, INT64_MAX),
}


def _shown(value: object) -> str:
    """A short repr for an error message; cheap and safe for huge strings and integers."""
    if isinstance(value, str | bytes) and len(value) > 60:
        value = value[:60]
    try:
        shown = repr(value)
    except ValueError:  # an int beyond the interpreter's 4300-digit str() limit
        shown = f"<{type(value).__name__} too large to show>"
    return shown[:57] + "..." if len(shown) > 60 else shown


class EdmValueError(ExactOnlineError, ValueError):
    """A value on the wire does not fit its declared Edm type."""

    def __init__(self, edm_type: str, value: object, reason: str = "") -> None:
        shown = _shown(value)
        msg = f"not a valid {edm_type}: {shown}"
        super().__init__(f"{msg} ({reason})" if reason else msg)
        self.edm_type = edm_type
        self.reason = reason


class JSONFormatError(ExactOnlineError, ValueError):
    """A body is not JSON this package accepts.

    ``kind`` says why: ``"syntax"`` (invalid or truncated JSON), ``"encoding"`` (not UTF-8), ``"number"`` (a
    number beyond Exact's Edm.Double/Int64 ranges, NaN or Infinity) or ``"depth"`` (nested too deeply)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


# --- numbers: the bounds every JSON number and Edm value is held to -----------------------------------------


def _significant_digits(digits: tuple[int, ...]) -> int:
    """Digits of a coefficient without leading and trailing zeros (``1.000`` and ``0.001`` have one)."""
    first = next((i for i, d in enumerate(digits) if d), len(digits))
    last = next((i for i, d in enumerate(reversed(digits)) if d), len(digits))
    return max(len(digits) - first - last, 0)


def _check_double(value: Decimal, shown: object, edm_type: str = "Edm.Double") -> Decimal:
    """``value`` when it is a finite Decimal within Edm.Double's range and digit bound, else EdmValueError."""
    if not value.is_finite():
        raise EdmValueError(edm_type, shown, "NaN and infinity are not valid amounts")
    digits = value.as_tuple().digits
    significant = _significant_digits(digits)
    if significant == 0:
        # A zero: only its exponent can be absurd (0E-100000 prints as 100,000 zeros).
        if not _DOUBLE_MIN_ADJUSTED - MAX_SIGNIFICANT_DIGITS <= value.adjusted() <= 308:
            raise EdmValueError(edm_type, shown, "exponent beyond Edm.Double's range")
        return value
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise EdmValueError(edm_type, shown, f"more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    if value.adjusted() > 308 or value.copy_abs() > DOUBLE_MAX:
        raise EdmValueError(edm_type, shown, "beyond Edm.Double's range of +-1.7976931348623157E+308")
    if value.adjusted() < _DOUBLE_MIN_ADJUSTED:
        raise EdmValueError(edm_type, shown, "smaller than Edm.Double's smallest non-zero value 4.9E-324")
    if len(digits) > MAX_NUMBER_CHARS:
        raise EdmValueError(edm_type, shown, f"more than {MAX_NUMBER_CHARS} digits")
    return value


def _check_range(value: int, edm_type: str, shown: object) -> int:
    low, high = _INT_RANGES.get(edm_type, (INT64_MIN, INT64_MAX))
    if not low <= value <= high:
        raise EdmValueError(edm_type, shown, f"outside {edm_type}'s range {low}..{high}")
    return value


_FAST_NUMBERS: Final = decimal.Context(
    prec=MAX_SIGNIFICANT_DIGITS,
    Emax=307,
    Emin=_DOUBLE_MIN_ADJUSTED + 1,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Subnormal,
        decimal.Clamped,
        decimal.Inexact,
        decimal.Rounded,
        decimal.FloatOperation,
    ],
)
"""The fast readers' bound on Edm.Double values, applied in C: msgspec's float hook is
``_FAST_NUMBERS.create_decimal``, called with the text of every number that has a fraction or an exponent.

Every signal is a trap, so what it returns is exactly ``Decimal(text)`` (nothing rounded, no exponent clamped) and
within :func:`_check_double`'s bounds: at most 40 digits of coefficient, adjusted exponent -323..307, a zero's
exponent no lower than -362. Anything else raises a :class:`decimal.DecimalException` and the reader falls back to
the exact checks, which decide (``1E+308`` and ``4.9E-324`` are valid: only outside this inner range)."""


def _json_float(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, as an exact Decimal within Edm.Double's bounds.

    Bounded by its value (digits, exponent), as the fast readers bound it; ``Decimal()`` reads any length of text
    in linear time, and the body-size cap bounds the length."""
    return _check_double(Decimal(text), text)


def _json_int(text: str) -> int | Decimal:
    """A JSON integer: an int up to 19 digits (as msgspec reads it), else an integral Edm.Double as a Decimal."""
    if len(text) - text.startswith("-") <= 19:  # int() is cheap and exact
        return int(text)
    if len(text) > MAX_NUMBER_CHARS:
        raise EdmValueError("Edm.Double", text, f"a number literal longer than {MAX_NUMBER_CHARS} characters")
    return _check_double(Decimal(text), text)


def _json_constant(name: str) -> Any:
    raise EdmValueError("Edm.Double", name, "NaN and Infinity are not JSON")


# --- JSON -------------------------------------------------------------------------------------------------


def _exact_text(data: str | bytes | bytearray) -> str:
    """UTF-8 text of a body: a leading byte-order mark is dropped; UTF-16/32 and invalid UTF-8 are refused."""
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data
    raw = bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) >= 2 and (raw[0] == 0 or raw[1] == 0)):
        # json.loads would guess UTF-16/32 from the zero bytes; Exact and RFC 8259 speak UTF-8 only.
        raise JSONFormatError("the body is UTF-16 or UTF-32, not UTF-8 JSON", kind="encoding")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONFormatError(f"the body is invalid UTF-8 (at byte {exc.start})", kind="encoding") from None


# msgspec decodes an untyped integer of any length up to 4300 digits as an int; the bounds above make a JSON integer
# of 20 digits or more an integral Edm.Double (a bounded Decimal). Such a literal needs 20 digits in a row, which
# digits inside strings rarely have (a GUID has at most 12, an Int64 string 19, a /Date(ms)/ 13): the text is checked
# for such a run in C (translate, then find: a few percent of a decode), and only a body that has one takes the exact
# reader. Exponents and fractions need no scan: the float hook bounds them while msgspec decodes.
_DIGIT_RUN: Final = 20
_DIGITS_AS_ZERO: Final = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_ZEROS: Final = b"0" * _DIGIT_RUN


def needs_exact_reader(data: str | bytes | bytearray) -> bool:
    """True when ``data`` holds 20 or more digits in a row (an integer literal the fast decoder would read as an
    unbounded ``int``, or just digits inside a string): :func:`loads` then takes the bounded standard-library reader.

    Typed rows (:mod:`exact_online_sdk.models`) never need it: their fields are bounded while they are decoded."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return raw.translate(_DIGITS_AS_ZERO).find(_ZEROS) >= 0


@cache
def _decoder() -> tuple[msgspec.json.Decoder[Any], type[Exception]]:
    import msgspec  # on first use: importing the package stays cheap

    return msgspec.json.Decoder(float_hook=_FAST_NUMBERS.create_decimal), msgspec.DecodeError


def loads(data: str | bytes | bytearray) -> Any:
    """Parse Exact JSON with every non-integer number as an exact :class:`Decimal` (made from the number's text),
    within the bounds above.

    Decoded by msgspec in C, numbers bounded as they are read (see the module docstring); a body with 20 digits in a
    row (:func:`needs_exact_reader`), a number beyond the fast bound, and what msgspec refuses (``NaN``, a byte-order
    mark, bad UTF-8, broken JSON) go to the standard library with the bounds as hooks, which decodes them exactly
    or says why not. Raises :class:`JSONFormatError`, never a raw ``ValueError``, ``RecursionError`` or
    ``UnicodeDecodeError``.
    """
    if not needs_exact_reader(data):
        decoder, refused = _decoder()
        try:
            return decoder.decode(data)
        except (refused, decimal.DecimalException):
            pass  # the exact reader below decodes it or says precisely why not
        except RecursionError:
            raise JSONFormatError("the JSON is nested deeper than the decoder allows", kind="depth") from None
    return _exact_loads(data)


def _exact_loads(data: str | bytes | bytearray) -> Any:
    text = _exact_text(data)
    try:
        return json.loads(
            text, parse_float=_json_float, parse_int=_json_int, parse_constant=_json_constant, strict=True
        )
    except EdmValueError as exc:
        raise JSONFormatError(str(exc), kind="number") from None
    except json.JSONDecodeError as exc:
        raise JSONFormatError(f"invalid or truncated JSON ({exc.msg} at char {exc.pos})", kind="syntax") from None
    except RecursionError:
        raise JSONFormatError("the JSON is nested deeper than Python's recursion limit allows", kind="depth") from None


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

    try:
        text = json.dumps(obj, default=default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # a float NaN/Infinity, or a circular structure
        raise EdmValueError("JSON body", type(obj).__name__, str(exc)) from None
    if found:
        text = re.sub(f'"{mark}(-?[0-9.]+){mark}"', r"\1", text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (e.g. "\ud800") has no UTF-8 form
        raise EdmValueError("Edm.String", text[exc.start : exc.end], "a lone surrogate has no UTF-8 form") from None


# --- Edm.DateTime -----------------------------------------------------------------------------------------


def parse_datetime(value: object) -> datetime | None:
    """``/Date(ms)/`` (optionally with an offset), ISO 8601 text or a datetime -> naive wall-clock datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _naive_utc(value, value)
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
    return _naive_utc(parsed, value)


def _naive_utc(value: datetime, shown: object) -> datetime:
    """An aware datetime as naive UTC fields (a naive one as is); out of range (year 1 at +01:00) is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=None)
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise EdmValueError("Edm.DateTime", shown, "outside the years 1..9999 once converted to UTC") from None


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
    """Edm.Int64 from a JSON string (OData v2 verbose) or number, within -2**63 .. 2**63-1."""
    return parse_int(value, "Edm.Int64")


def parse_int(value: object, edm_type: str = "Edm.Int32") -> int | None:
    """An Edm integer from int, integral Decimal or ASCII digit string, within ``edm_type``'s range (an unknown
    type: Int64's); bool, fractions, other digits (``"²"``) and out-of-range values are refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise EdmValueError(edm_type, value, "booleans are not integers")
    if isinstance(value, int):
        return _check_range(value, edm_type, value)
    if isinstance(value, Decimal | float):
        dec = Decimal(value)
        if not dec.is_finite() or dec != dec.to_integral_value():
            raise EdmValueError(edm_type, value, "has a fractional part")
        if dec.adjusted() > 19:  # int() of 1E+100000000 would build a 100-million-digit number
            raise EdmValueError(edm_type, value, f"outside {edm_type}'s range")
        return _check_range(int(dec), edm_type, value)
    if isinstance(value, str):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise EdmValueError(edm_type, value, "expected digits")
        if len(text) > 40:  # no Edm integer needs more; int() of thousands of digits is slow or refused
            raise EdmValueError(edm_type, value, f"outside {edm_type}'s range")
        return _check_range(int(text), edm_type, value)
    raise EdmValueError(edm_type, value)


def parse_decimal(value: object) -> Decimal | None:
    """Edm.Double money/quantity -> Decimal without a float round trip (a float input is read by its repr),
    within Edm.Double's range and digit bound."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise EdmValueError("Edm.Double", value, "booleans are not numbers")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if value.bit_length() > 1030:  # beyond any double; Decimal() of a huge int is slow
            raise EdmValueError("Edm.Double", "<integer>", "beyond Edm.Double's range")
        result = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest text that round-trips, so 0.1 -> "0.1" -> Decimal("0.1").
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARS:
            raise EdmValueError("Edm.Double", value, f"longer than {MAX_NUMBER_CHARS} characters")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise EdmValueError("Edm.Double", value, "expected a number") from exc
    else:
        raise EdmValueError("Edm.Double", value)
    return _check_double(result, value)


def format_decimal(value: Decimal | int) -> str:
    """A Decimal as plain digits, never in exponent form (``1E+2`` -> ``100``, ``1E-7`` -> ``0.0000001``).

    Only values within Edm.Double's range and digit bound are written (``1E+100000000`` would be 100 MB)."""
    dec = parse_decimal(value)
    assert dec is not None
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
