"""Gap 8 of issue 13: formats. JSON only when asked (``Accept`` or ``$format``), Atom otherwise, ``application/xml``
refused (FACTS §3.1); typed Atom: ``m:type`` on every non-string property, ``m:count``, one ``<entry>`` for a key."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

A = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(rows=5, minutely_limit=10_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.token()}"}) as c:
        yield c


ACCOUNTS = "/api/v1/1001/crm/Accounts"


@pytest.mark.parametrize("accept", ["application/xml", "text/xml", "text/plain"])
def test_xml_accept_is_not_served(http: httpx.Client, accept: str) -> None:
    resp = http.get(ACCOUNTS, params={"$top": "1"}, headers={"Accept": accept})
    assert resp.status_code == 415
    assert ET.fromstring(resp.content).find(f"{M}message").text == "Unsupported media type requested."  # type: ignore[union-attr]
    assert "X-RateLimit-Remaining" in resp.headers  # it was a counted call


@pytest.mark.parametrize(
    ("accept", "fmt", "kind"),
    [
        ("", "json", "json"),
        ("application/atom+xml", "json", "json"),
        ("application/json", "atom", "atom"),
        ("application/json;odata=verbose", None, "json"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None, "atom"),
        ("", None, "atom"),
        ("application/json", "xml", "refused"),
    ],
)
def test_format_option_wins_over_accept(http: httpx.Client, accept: str, fmt: str | None, kind: str) -> None:
    params = {"$top": "1", "$select": "ID"} | ({"$format": fmt} if fmt else {})
    resp = http.get(ACCOUNTS, params=params, headers={"Accept": accept})
    if kind == "json":
        assert resp.headers["content-type"].startswith("application/json")
        assert isinstance(resp.json()["d"], list)
    elif kind == "atom":
        assert resp.headers["content-type"].startswith("application/atom+xml;type=feed")
    else:
        assert resp.status_code == 415


def test_atom_feed_is_typed_and_counted(http: httpx.Client) -> None:
    resp = http.get(
        "/api/v1/1001/salesentry/SalesEntries",
        params={"$top": "2", "$inlinecount": "allpages", "$expand": "SalesEntryLines"},
    )
    feed = ET.fromstring(resp.content)
    assert feed.tag == f"{A}feed"
    assert feed.find(f"{M}count").text == "5"  # type: ignore[union-attr]
    entries = feed.findall(f"{A}entry")
    assert len(entries) == 2
    props = entries[0].find(f"{A}content/{M}properties")
    assert props is not None
    types = {p.tag.removeprefix(D): p.get(f"{M}type") for p in props}
    assert types["EntryID"] == "Edm.Guid"
    assert types["AmountDC"] == "Edm.Double"
    assert types["Status"] == "Edm.Int16"
    assert types["Created"] == "Edm.DateTime"
    assert types["Description"] is None  # strings carry no m:type
    inline = entries[0].find(f"{A}link[@title='SalesEntryLines']/{M}inline/{A}feed")
    assert inline is not None
    assert len(inline.findall(f"{A}entry")) == 3


def test_a_key_gets_one_entry_not_a_feed(http: httpx.Client) -> None:
    resp = http.get("/api/v1/1001/system/Divisions(1001)")
    assert resp.headers["content-type"].startswith("application/atom+xml;type=entry")
    entry = ET.fromstring(resp.content)
    assert entry.tag == f"{A}entry"
    code = entry.find(f"{A}content/{M}properties/{D}Code")
    assert code is not None
    assert (code.text, code.get(f"{M}type")) == ("1001", "Edm.Int32")
    nulls = [p for p in entry.iter() if p.get(f"{M}null") == "true"]
    assert nulls, "null values are marked m:null"
