"""Gap 2 of issue 13: ``{"d": [...]}`` when ``$top`` is given (FACTS §3.2), ``{"d": {"results": [...]}}`` when the
page needs ``__next`` or ``__count``, and the switch that keeps the other shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(rows=80, minutely_limit=10_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


def test_top_answers_a_bare_array(client: httpx.Client) -> None:
    for top in ("1", "2", "60"):
        body = client.get("/api/v1/1001/crm/Accounts", params={"$top": top, "$select": "ID"}).json()
        assert set(body) == {"d"}
        assert isinstance(body["d"], list)
        assert len(body["d"]) == int(top)
        assert set(body["d"][0]) == {"__metadata", "ID"}


def test_without_top_and_when_v2_features_are_needed_the_results_object_stays(client: httpx.Client) -> None:
    plain = client.get("/api/v1/1001/crm/Accounts", params={"$select": "ID"}).json()["d"]
    assert set(plain) == {"results", "__next"}
    counted = client.get(
        "/api/v1/1001/crm/Accounts", params={"$top": "2", "$select": "ID", "$inlinecount": "allpages"}
    ).json()["d"]
    assert set(counted) == {"results", "__count"}
    assert counted["__count"] == "80"
    paged = client.get("/api/v1/1001/crm/Accounts", params={"$top": "70", "$select": "ID"}).json()["d"]
    assert len(paged["results"]) == 60
    assert "$top=10" in paged["__next"]  # the rest of the $top, on the next page
    rest = client.get(paged["__next"]).json()["d"]
    assert isinstance(rest, list)  # the last page fits: bare again
    assert len(rest) == 10
    one = client.get("/api/v1/1001/system/Divisions(1001)").json()["d"]
    assert isinstance(one, dict)  # an entity by key: {"d": {...}}
    assert one["Code"] == 1001


@pytest.mark.parametrize(
    ("envelope", "top", "bare"),
    [("results", "3", False), ("bare_except_top1", "1", False), ("bare_except_top1", "3", True)],
)
def test_the_envelope_switch(envelope: str, top: str, bare: bool) -> None:
    with run_emulator(EmulatorConfig(rows=5, top_envelope=envelope)) as emu, api_client(emu) as client:  # type: ignore[arg-type]
        body = client.get("/api/v1/1001/crm/Accounts", params={"$top": top, "$select": "ID"}).json()
        assert isinstance(body["d"], list) is bare


def test_the_deprecated_exact_top_knob_still_works() -> None:
    with run_emulator(EmulatorConfig(rows=5, bare_array_top=2)) as emu, api_client(emu) as client:
        assert isinstance(client.get("/api/v1/1001/crm/Accounts", params={"$top": "2"}).json()["d"], list)
        assert "results" in client.get("/api/v1/1001/crm/Accounts", params={"$top": "3"}).json()["d"]


def test_this_projects_client_reads_both_shapes(emu: EmulatorHandle) -> None:
    # Issue 13 asks that the SDK reads the bare shape too (its _core/response.py accepts both).
    from exact_online_sdk import ExactOnlineClient

    with ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as sdk:
        assert len(sdk.get("crm/Accounts", {"$top": 3, "$select": "ID"})) == 3
        assert len(list(sdk.iter_rows("crm/Accounts", {"$select": "ID"}))) == 80
