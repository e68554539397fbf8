"""The query engine's corners and the write rules' refusals, over plain HTTP (WCF Data Services wording)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import CONTROL, api_client, d, error


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(clock=ManualClock(), rows=30, minutely_limit=100_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


def count(client: httpx.Client, flt: str, path: str = "crm/Accounts") -> int:
    body = d(client.get(f"/api/v1/1001/{path}", params={"$filter": flt, "$inlinecount": "allpages", "$top": "1"}))
    return int(body["__count"])


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("tolower(Name) eq 'account 7'", 1),
        ("toupper(Name) eq 'ACCOUNT 7'", 1),
        ("length(Name) eq 9", 9),
        ("year(Created) eq 2024", 30),
        ("month(Created) eq 1 and day(Created) eq 1", 30),
        ("Blocked or not Blocked", 30),
        ("(Name eq 'Account 1')", 1),
        ("Name ne null", 30),
        ("Name eq null", 0),
        ("Name gt null", 0),
        ("startswith(Website,'x')", 0),
        ("CreditLineSales ge 0.5M", 30),
    ],
)
def test_filter_functions_and_nulls(client: httpx.Client, flt: str, expected: int) -> None:
    assert count(client, flt) == expected


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ("Name eq", "Expression expected at position 7 in 'Name eq'."),
        ("(Name eq 'x'", "Expression expected at position 12 in '(Name eq 'x''."),
        ("startswith(Name 'x')", "')' or ',' expected at position 16 in 'startswith(Name 'x')'."),
        ("substringof(Name)", "No function signature for the function with name 'substringof' matches the arguments."),
        ("substringof(Name,Code)", "This $filter parameter is not supported for this resource"),
        ("Name", "Expression of type 'Edm.Boolean' expected at position 4 in 'Name'."),
        ("Name eq 'x' Name", "Syntax error at position 12 in 'Name eq 'x' Name'."),
        ("Name eq 1", "Operator 'eq' incompatible with operand types 'Edm.String' and 'Edm.Int32'."),
        ("BankAccounts eq 1", "Filtering on these fields is not supported: BankAccounts"),
        ("Name eq 'a' eq 'b'", "Syntax error at position 12 in 'Name eq 'a' eq 'b''."),
        ("Name eq # ", "Syntax error at position 8 in 'Name eq #'."),
        ("Name eq x'00'", "Unrecognized 'literal' literal 'x'00'' in 'Name eq x'00''."),
    ],
)
def test_filter_syntax_errors(client: httpx.Client, flt: str, message: str) -> None:
    assert error(client.get("/api/v1/1001/crm/Accounts", params={"$filter": flt})) == message


def test_write_refusals(client: httpx.Client) -> None:
    accounts = "/api/v1/1001/crm/Accounts"
    assert "not valid JSON" in error(
        client.post(accounts, content=b"{nope", headers={"Content-Type": "application/json"})
    )
    assert "JSON object expected" in error(client.post(accounts, json=[{"Name": "x"}]))
    assert "JSON object expected" in error(
        client.post(accounts, content=b"", headers={"Content-Type": "application/json"})
    )
    one = d(client.get(accounts, params={"$top": "1", "$select": "ID"}))[0]["ID"]
    assert "address the collection" in error(client.post(f"{accounts}(guid'{one}')", json={"Name": "x"}))
    assert "by its key" in error(client.put(accounts, json={"Name": "x"}))
    assert "by its key" in error(client.delete(accounts))
    assert "is a key" in error(
        client.put(f"{accounts}(guid'{one}')", json={"ID": "00000000-0000-4000-8000-000000000001"})
    )
    assert "Duplicate key" in error(client.post(accounts, json={"ID": one, "Name": "again"}))
    assert client.patch(f"{accounts}(guid'{one}')", json={"Name": "x"}).status_code == 405
    assert client.delete("/api/v1/1001/crm/Accounts/$count").status_code == 405
    assert "cannot be addressed by key" in error(client.get("/api/v1/1001/sync/CRM/Accounts(1)"))
    assert "unknown key" in error(client.get("/api/v1/1001/system/Divisions(Nope=1)"))
    assert "incomplete" in error(client.get("/api/v1/1001/openingbalance/CurrentYear/AfterEntry(Division=1001)"))
    assert error(client.get("/api/v1/1001/system/Divisions(4242)"), 404) == "Resource not found"


def test_values_in_their_wire_form(client: httpx.Client) -> None:
    created = d(
        client.post(
            "/api/v1/1001/documents/DocumentAttachments",
            json={"Document": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "FileName": "a.txt", "Attachment": "aGk="},
            headers={"Prefer": "return=representation"},
        )
    )
    assert created["Attachment"] == "aGk="
    bad = {"Document": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "FileName": "a.txt", "Attachment": 5}
    assert "Edm.Binary" in error(client.post("/api/v1/1001/documents/DocumentAttachments", json=bad))
    item = d(
        client.post("/api/v1/1001/logistics/Items", json={"Code": "I-1", "Description": "x", "StartDate": "2024-02-01"})
    )
    stored = d(client.get(item["__metadata"]["uri"], params={"$select": "StartDate"}))
    assert stored["StartDate"] == "/Date(1706745600000)/"
    synced = d(
        client.get(
            "/api/v1/1001/sync/Logistics/Items", params={"$filter": "Timestamp gt 1L", "$select": "ID,Timestamp"}
        )
    )
    assert all(isinstance(r["Timestamp"], str) for r in synced["results"])  # Edm.Int64 travels as text


def test_subscriptions_are_the_apps_own(emu: EmulatorHandle, client: httpx.Client) -> None:
    body = {"CallbackURL": "http://127.0.0.1:9/hook", "Topic": "Items"}
    sub = d(client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json=body))
    assert (
        error(client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json={"CallbackURL": "x"}))
        == "Mandatory: Topic"
    )
    assert "HTTPS" in error(
        client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json={**body, "CallbackURL": "ftp://x"})
    )
    other_pair = httpx.post(f"{emu.base_url}/_emulator/tokens", json={}, headers=CONTROL).json()
    assert other_pair["access_token"]
    with run_emulator(EmulatorConfig(clients={"a": "1", "b": "2"})) as two:
        mine = api_client(two, two.control.issue_token("a")["access_token"])
        theirs = api_client(two, two.control.issue_token("b")["access_token"])
        created = d(mine.post("/api/v1/1001/webhooks/WebhookSubscriptions", json=body))
        assert theirs.delete(created["__metadata"]["uri"]).status_code == 404
        assert mine.delete(created["__metadata"]["uri"]).status_code == 204
    assert client.delete(sub["__metadata"]["uri"]).status_code == 204


def test_https_only_callbacks_when_required() -> None:
    with run_emulator(EmulatorConfig(webhook_require_https=True)) as emu, api_client(emu) as client:
        body = {"CallbackURL": "http://127.0.0.1:9/hook", "Topic": "Items"}
        assert "HTTPS" in error(client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json=body))


def test_control_in_python_and_over_http(emu: EmulatorHandle) -> None:
    control = emu.control
    base = f"{emu.base_url}/_emulator"
    assert control.now() == emu.clock.now()
    assert control.advance(5) == emu.clock.now()
    assert httpx.post(f"{base}/clock/advance", json={"seconds": 5}, headers=CONTROL).json()["now"] == emu.clock.now()
    assert httpx.post(f"{base}/clock/advance", json={"seconds": "x"}, headers=CONTROL).status_code == 409
    assert control.clock_info()["kind"] == "ManualClock"
    assert control.calls() >= 0
    with pytest.raises(ValueError, match="not one of the emulator's divisions"):
        control.issue_token(division=9)
    assert httpx.post(f"{base}/tokens", json={"division": 9}, headers=CONTROL).status_code == 400
    assert httpx.post(f"{base}/authorize", json={"client_id": "nope"}, headers=CONTROL).status_code == 400
    assert httpx.post(f"{base}/tokens/expire", json={}, headers=CONTROL).status_code == 204
    assert httpx.get(f"{base}/requests", params={"limit": "1"}).status_code == 200
    assert httpx.delete(f"{base}/requests", headers={**CONTROL, "Content-Type": "application/json"}).status_code == 204
    assert control.requests() == [] or all("token" not in str(e).lower() for e in control.requests())
    assert httpx.get(f"{base}/webhooks").json() == control.webhook_log()
    assert control.table("crm/Accounts").count() >= 30
    fault = control.inject("latency", seconds=0.0, times=None, path="nothing-matches")
    assert fault.to_dict()["times"] is None
    assert control.faults()[0]["kind"] == "latency"
    control.clear_faults()
    for bad in ({"kind": "status", "status": 200}, {"kind": "latency", "times": 0}, {"kind": "latency", "x": 1}):
        assert httpx.post(f"{base}/faults", json=bad, headers=CONTROL).status_code == 400
