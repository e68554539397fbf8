"""Done-when of issue 13: a third-party client's typical session works unchanged, written the way such clients talk
to Exact (plain httpx, no SDK): log in with Basic client credentials, refresh, list divisions, page with ``$top``,
look a record up by GUID, follow a ``__deferred`` link, create a sales entry with its lines in one POST, and create
and update a contact."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator

REDIRECT = "http://127.0.0.1:8765/callback"


def test_a_third_party_session() -> None:
    clock = ManualClock(1_767_225_600.0)
    with run_emulator(EmulatorConfig(clock=clock, rows=75, redirect_uris=(REDIRECT,))) as emu:
        base = emu.base_url
        client_id, secret = emu.config.client_id, emu.config.client_secret
        basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}

        # 1. authorization code flow, the code redeemed with HTTP Basic client authentication
        consent = httpx.get(
            f"{base}/api/oauth2/auth",
            params={"client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code", "state": "xyz"},
        )
        assert consent.status_code == 302
        callback = parse_qs(urlsplit(consent.headers["location"]).query)
        assert callback["state"] == ["xyz"]
        tokens = httpx.post(
            f"{base}/api/oauth2/token",
            data={"grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": REDIRECT},
            headers=basic,
        ).json()
        assert int(tokens["expires_in"]) == 600

        # 2. refresh in the last 30 seconds of the access token, as the rules want
        clock.advance(575)
        refreshed = httpx.post(
            f"{base}/api/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic,
        )
        assert refreshed.status_code == 200, refreshed.text
        api = httpx.Client(
            base_url=f"{base}/api/v1",
            headers={"Authorization": f"Bearer {refreshed.json()['access_token']}", "Accept": "application/json"},
        )

        # 3. who am I, which divisions
        me = api.get("/current/Me", params={"$select": "CurrentDivision"}).json()["d"]["results"][0]
        division = me["CurrentDivision"]
        divisions = api.get(f"/{division}/hrm/Divisions", params={"$select": "Code,Description"}).json()["d"]
        assert [row["Code"] for row in divisions["results"]] == [1001, 1002]

        # 4. paged reads with $top (a bare array, as such clients expect), then following __next
        top = api.get(f"/{division}/crm/Accounts", params={"$select": "ID,Name", "$top": "50"}).json()["d"]
        assert isinstance(top, list)
        assert len(top) == 50
        seen: list[str] = []
        url: str | None = f"{base}/api/v1/{division}/crm/Accounts?$select=ID,Name"
        while url:
            page = api.get(url).json()["d"]
            seen += [row["ID"] for row in page["results"]]
            url = page.get("__next")
        assert len(seen) == len(set(seen)) == 75

        # 5. a lookup by GUID, as Findable does it: $filter on the key and $top=1
        key = seen[42]
        found = api.get(f"/{division}/crm/Accounts", params={"$filter": f"ID eq guid'{key}'", "$top": "1"}).json()
        assert found["d"][0]["ID"] == key
        one = api.get(f"/{division}/crm/Accounts(guid'{key}')").json()["d"]
        assert one["ID"] == key

        # 6. following a __deferred link
        banks = api.get(one["BankAccounts"]["__deferred"]["uri"]).json()["d"]["results"]
        assert banks
        assert {b["Account"] for b in banks} == {key}

        # 7. a sales entry with its lines in one POST
        gl = api.get(f"/{division}/financial/GLAccounts", params={"$select": "ID", "$top": "1"}).json()["d"][0]["ID"]
        entry = api.post(
            f"/{division}/salesentry/SalesEntries",
            json={
                "Customer": key,
                "Journal": "70",
                "YourRef": "INV-1",
                "SalesEntryLines": [
                    {"GLAccount": gl, "AmountFC": 250.0, "Description": "consulting"},
                    {"GLAccount": gl, "AmountFC": 50.0, "Description": "travel"},
                ],
            },
            headers={"Prefer": "return=representation"},
        )
        assert entry.status_code == 201, entry.text
        created = entry.json()["d"]
        assert created["AmountFC"] == 300.0
        lines = api.get(created["SalesEntryLines"]["__deferred"]["uri"]).json()["d"]["results"]
        assert sorted(line["Description"] for line in lines) == ["consulting", "travel"]

        # 8. a contact created and updated
        contact = api.post(
            f"/{division}/crm/Contacts",
            json={"Account": key, "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"},
        )
        assert contact.status_code == 201, contact.text
        contact_id = contact.json()["d"]["ID"]
        updated = api.put(f"/{division}/crm/Contacts(guid'{contact_id}')", json={"JobTitleDescription": "Admiral"})
        assert (updated.status_code, updated.content) == (204, b"")
        back = api.get(f"/{division}/crm/Contacts(guid'{contact_id}')").json()["d"]
        assert (back["FullName"], back["JobTitleDescription"]) == ("Grace Hopper", "Admiral")
