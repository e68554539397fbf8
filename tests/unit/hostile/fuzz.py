"""Hypothesis strategies for hostile wire input, and the settings every fuzz test runs with.

The example count is bounded and the run is derandomized, so ``make test`` stays fast and CI sees the same examples
every time; ``FUZZ_EXAMPLES=5000`` widens a local hunt."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))

fuzz_settings = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Number literals a broken or hostile server might write: huge exponents, thousands of digits, the edges of
# Edm.Double and Int64, forms JSON does not allow.
NUMBER_LITERALS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        [
            "1e100000000",
            "-1e999999",
            "1e-400",
            "0e-100000",
            "9" * 5000,
            "-" + "9" * 4400,
            "1." + "3" * 300,
            "9223372036854775808",
            "-9223372036854775809",
            "1.7976931348623157e308",
            "4.9e-324",
            "NaN",
            "Infinity",
            "-0",
            "0.1",
        ]
    ),
)

_scalars = st.one_of(
    st.sampled_from(["null", "true", "false"]),
    st.text(max_size=20).map(json.dumps),
    NUMBER_LITERALS,
    st.sampled_from(['"/Date(99999999999999999999)/"', '"/Date(-62135596800001)/"', '"\\ud800"', '"\\u0000"']),
)


def _array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object(items: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in items.items()) + "}"


KEYS = st.sampled_from(["d", "results", "__next", "__count", "__metadata", "ID", "x"])

# JSON *text*, so that literals Python's json module would never write can appear anywhere.
json_text = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(_array),
        st.dictionaries(KEYS, inner, max_size=4).map(_object),
    ),
    max_leaves=20,
)


@st.composite
def envelopes(draw: Any) -> bytes:
    """Bodies shaped like Exact's OData envelopes, with arbitrary JSON in every slot."""
    rows = draw(st.one_of(json_text, st.lists(json_text, max_size=3).map(_array)))
    shape = draw(st.integers(0, 3))
    if shape == 0:
        text = _object({"d": rows})
    elif shape == 1:
        text = _object({"d": _object({"results": rows, "__next": draw(json_text), "__count": draw(json_text)})})
    elif shape == 2:
        text = _object({"d": _object({"results": rows})})
    else:
        text = draw(json_text)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-32-le"]))
    return text.encode(encoding, errors="surrogatepass")


DEEP = [
    b"[" * 50_000,
    b'{"d":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"d":{"results":[' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"]}}",
]

_WEBHOOK_CONTENT = {
    "Topic": '"Accounts"',
    "Action": '"Update"',
    "Division": "1001",
    "Key": '"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d111"',
    "ExactOnlineEndpoint": '"https://start.exactonline.nl/api/v1/1001/crm/Accounts"',
    "ClientId": '"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d112"',
    "EventCreatedOn": '"2026-01-01T00:00:00Z"',
}


_MISTYPED = st.sampled_from(["", "null", "true", '"abc"', '"\u00b2"', "1.5", "[]", "{}", '"1001"'])


@st.composite
def webhook_content(draw: Any) -> str:
    """Webhook Content with Exact's fields where one or two are absent or hold any JSON (a mistyped Division, a
    Topic that is a number): what reaches the field checks once the HashCode is right."""
    broken = draw(st.lists(st.sampled_from(sorted(_WEBHOOK_CONTENT)), min_size=1, max_size=2, unique=True))
    fields = dict(_WEBHOOK_CONTENT)
    for name in broken:
        fields[name] = draw(st.one_of(_MISTYPED, json_text, NUMBER_LITERALS))  # "": the field is absent
    return _object({name: text for name, text in fields.items() if text})


hostile_bytes = st.one_of(st.binary(max_size=300), envelopes(), st.sampled_from(DEEP))
