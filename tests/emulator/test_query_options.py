"""Gaps 7 and 9 of issue 13: query options as WCF Data Services (OData v2) treats them, ``$orderby`` paging with
value skiptokens, function parameters of ``read/...`` endpoints, and what a malformed literal answers."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client, d, error


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(clock=ManualClock(), rows=130, minutely_limit=100_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


@pytest.mark.parametrize("option", ["$bogus", "$TOP", "$Filter", "$count", "$search"])
def test_unknown_or_miscased_system_options_are_refused(client: httpx.Client, option: str) -> None:
    message = error(client.get("/api/v1/1001/crm/Accounts", params={option: "1"}))
    assert (
        message == f"The query parameter '{option}' begins with a system-reserved '$' character but is not recognized."
    )


def test_custom_options_are_ignored_and_values_are_checked(client: httpx.Client) -> None:
    assert client.get("/api/v1/1001/crm/Accounts", params={"foo": "bar", "$top": "1"}).status_code == 200
    assert (
        error(client.get("/api/v1/1001/crm/Accounts", params={"$top": "x"}))
        == "Incorrect format for $top argument 'x'."
    )
    assert error(client.get("/api/v1/1001/crm/Accounts", params={"$skip": "-1"})) == (
        "Incorrect format for $skip argument '-1'."
    )
    assert "inlinecount" in error(client.get("/api/v1/1001/crm/Accounts", params={"$inlinecount": "yes"}))
    assert error(client.get("/api/v1/1001/crm/Accounts/$count", params={"$bogus": "1"})).startswith("The query")
    assert client.get("/api/v1/1001/crm/Accounts", params={"$inlinecount": "none"}).status_code == 200


def test_orderby_pages_with_a_value_skiptoken_and_loses_no_row(client: httpx.Client) -> None:
    params = {"$orderby": "City desc,Name", "$select": "ID,City,Name"}
    first = d(client.get("/api/v1/1001/crm/Accounts", params=params))
    token = parse_qs(urlsplit(first["__next"]).query)["$skiptoken"][0]
    last = first["results"][-1]
    # WCF's form: the ordering values of the last row, then its key, as OData literals
    assert token == f"'{last['City']}','{last['Name']}',guid'{last['ID']}'"
    # a row of the next page disappears meanwhile: paging goes on from the values, not from a position
    second_page = d(client.get(first["__next"]))["results"]
    victim = second_page[0]["ID"]
    seen = [r["ID"] for r in first["results"]]
    assert client.delete(f"/api/v1/1001/crm/Accounts(guid'{victim}')").status_code == 204
    url: str | None = first["__next"]
    while url:
        page = d(client.get(url))
        seen += [r["ID"] for r in page["results"]]
        url = page.get("__next")
    everything = int(client.get("/api/v1/1001/crm/Accounts/$count").text)
    assert len(seen) == len(set(seen)) == everything
    cities = [r["City"] for r in d(client.get("/api/v1/1001/crm/Accounts", params={**params, "$top": "60"}))]
    assert cities == sorted(cities, reverse=True)


def test_key_skiptoken_survives_the_deletion_of_the_last_row_of_a_page(client: httpx.Client) -> None:
    page = d(client.get("/api/v1/1001/crm/Contacts", params={"$select": "ID"}))
    assert client.delete(f"/api/v1/1001/crm/Contacts(guid'{page['results'][-1]['ID']}')").status_code == 204
    assert client.get(page["__next"]).status_code == 200
    assert "Invalid $skiptoken" in error(client.get("/api/v1/1001/crm/Contacts", params={"$skiptoken": "guid'x'"}))
    ordered = {"$orderby": "LastName", "$skiptoken": "'a'"}
    assert "Invalid $skiptoken" in error(client.get("/api/v1/1001/crm/Contacts", params=ordered))


def test_function_parameters_are_honoured(client: httpx.Client) -> None:
    year = d(client.get("/api/v1/1001/read/financial/RevenueListByYear", params={"year": "2021"}))["results"]
    assert year
    assert {r["Year"] for r in year} == {2021}
    assert sorted(r["Period"] for r in year) == list(range(1, 13))
    every = d(client.get("/api/v1/1001/read/financial/RevenueListByYear", params={"$select": "Year"}))["results"]
    assert len({r["Year"] for r in every}) > 1
    account = d(client.get("/api/v1/1001/read/financial/ReceivablesList", params={"$top": "1"}))[0]["AccountId"]
    mine = d(
        client.get("/api/v1/1001/read/financial/ReceivablesListByAccount", params={"accountId": f"guid'{account}'"})
    )["results"]
    assert mine
    assert {r["AccountId"] for r in mine} == {account}
    # a parameter that names no field is ignored, like any custom query option
    assert client.get("/api/v1/1001/read/financial/RevenueListByYear", params={"bogus": "1"}).status_code == 200


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ("ID eq guid'abc'", "Unrecognized 'Edm.Guid' literal 'guid'abc'' in 'ID eq guid'abc''."),
        (
            "Modified gt datetime'2024-13-01T00:00:00'",
            "Unrecognized 'Edm.DateTime' literal 'datetime'2024-13-01T00:00:00'' in "
            "'Modified gt datetime'2024-13-01T00:00:00''.",
        ),
        (
            "Modified gt datetimeoffset'2024-01-01T00:00:00Z'",
            "Operator 'gt' incompatible with operand types 'Edm.DateTime' and 'Edm.DateTimeOffset'.",
        ),
        ("Name eq 'unterminated", "Syntax error at position 8 in 'Name eq 'unterminated'."),
    ],
)
def test_a_bad_literal_says_what_is_wrong_with_it(client: httpx.Client, flt: str, message: str) -> None:
    assert error(client.get("/api/v1/1001/crm/Accounts", params={"$filter": flt})) == message


def test_datetime_literals_without_seconds_or_with_z_are_read(client: httpx.Client) -> None:
    for text in ("datetime'2024-01-01T00:00'", "datetime'2024-01-01T00:00:00Z'"):
        assert client.get("/api/v1/1001/crm/Accounts", params={"$filter": f"Created ge {text}"}).status_code == 200
    date_only = error(client.get("/api/v1/1001/crm/Accounts", params={"$filter": "Created ge datetime'2024-01-01'"}))
    assert date_only.startswith("Unrecognized 'Edm.DateTime' literal")  # Exact wants the time part


def test_a_malformed_key_literal_is_400(client: httpx.Client) -> None:
    assert "invalid guid" in error(client.get("/api/v1/1001/crm/Accounts(guid'nope')"))
    assert "invalid key" in error(client.get("/api/v1/1001/crm/Accounts(1 2)"))
