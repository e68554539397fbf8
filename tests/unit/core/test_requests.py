"""Request building: URLs from the registry, path validation, query encoding, headers and bodies on the wire."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.exceptions import ConfigError, InvalidHeaderError, InvalidPathError
from exact_online_sdk.registry import registry

from .conftest import DIVISION, HOST, FakeExact


def make(exact: FakeExact, **kw: object) -> ExactOnlineClient:
    kw.setdefault("division", DIVISION)
    return ExactOnlineClient(access_token="at-123456", transport=httpx.MockTransport(exact), clock=exact.clock, **kw)  # type: ignore[arg-type]


def test_seed_usage_builds_division_url_and_headers(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    client = ExactOnlineClient(
        settings=Settings(division=DIVISION, user_agent=None),
        access_token="at-123456",
        transport=httpx.MockTransport(exact),
        clock=exact.clock,
    )
    assert client.get("crm/Accounts", params={"$top": 10}) == []
    req = exact.requests[0]
    assert str(req.url) == f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$top=10"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["Authorization"] == "Bearer at-123456"
    assert req.headers["User-Agent"].startswith("exact-online-toolkit/0.1.0")
    assert "Prefer" not in req.headers


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("current/Me", "/api/v1/current/Me"),
        ("system/Users", "/api/v1/system/Users"),
        ("system/Divisions", f"/api/v1/{DIVISION}/system/Divisions"),
        ("sync/CRM/Accounts", f"/api/v1/{DIVISION}/sync/CRM/Accounts"),
        (
            "crm/Accounts(guid'3fa85f64-5717-4562-b3fc-2c963f66afa6')",
            f"/api/v1/{DIVISION}/crm/Accounts(guid'3fa85f64-5717-4562-b3fc-2c963f66afa6')",
        ),
        ("crm/Accounts/$count", f"/api/v1/{DIVISION}/crm/Accounts/$count"),
        ("some/UnknownThing", f"/api/v1/{DIVISION}/some/UnknownThing"),
    ],
)
def test_path_resolution(exact: FakeExact, path: str, expected: str) -> None:
    exact.route("/api/v1/", {"d": {"results": []}})
    make(exact).request("GET", path)
    assert exact.requests[-1].url.path == expected


def test_beta_endpoints_come_from_the_registry(exact: FakeExact) -> None:
    beta = next(e for e in registry() if e.beta and e.division_scoped)
    exact.route("/api/v1/", {"d": {"results": []}})
    make(exact).request("GET", beta.path)
    assert exact.requests[-1].url.path == f"/api/v1/beta/{DIVISION}/{beta.path}"


def test_division_per_call_overrides_client(exact: FakeExact) -> None:
    exact.route("/api/v1/", {"d": {"results": []}})
    make(exact).get("crm/Accounts", division=777)
    assert exact.requests[-1].url.path == "/api/v1/777/crm/Accounts"


def test_missing_division_names_the_variable(exact: FakeExact) -> None:
    client = make(exact, division=None)
    with pytest.raises(ConfigError, match="EXACT_DIVISION") as info:
        client.get("crm/Accounts")
    assert info.value.variable == "EXACT_DIVISION"
    assert exact.requests == []


@pytest.mark.parametrize(
    "path",
    [
        "crm/../system/Users",
        "crm/Accounts?$top=1",
        "crm/Accounts#frag",
        "https://evil.example/api/v1/1/crm/Accounts",
        "//evil.example/crm/Accounts",
        "/api/v1/1/crm/Accounts",
        "crm//Accounts",
        "",
        "crm/Acc ounts",
        "crm\\Accounts",
    ],
)
def test_bad_paths_are_refused_before_sending(exact: FakeExact, path: str) -> None:
    with pytest.raises(InvalidPathError):
        make(exact).get(path)
    assert exact.requests == []


def test_query_encoding_keeps_odata_punctuation_and_escapes_values(exact: FakeExact) -> None:
    exact.route("/api/v1/", {"d": {"results": []}})
    make(exact).get(
        "crm/Accounts",
        params={"$filter": "Name eq 'A&B + C'", "$select": ["ID", "Name"], "$format": "json", "x": None},
    )
    raw = exact.requests[-1].url.raw_path.decode()
    assert raw.endswith("?$filter=Name%20eq%20'A%26B%20%2B%20C'&$select=ID,Name&$format=json")
    assert exact.requests[-1].url.params["$filter"] == "Name eq 'A&B + C'"
    assert exact.requests[-1].headers["Accept"] == "application/json"


def test_post_sends_json_body_with_prefer_and_returns_entity(exact: FakeExact) -> None:
    def created(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            201, json={"d": {"__metadata": {"uri": "x", "type": "Exact.Web.Api.Models.Account"}, "ID": "g", **body}}
        )

    exact.route("crm/Accounts", created)
    entity = make(exact, language="EN-US").post("crm/Accounts", {"Name": "Acme", "CreditLine": Decimal("0.1")})
    req = exact.requests[-1]
    assert req.method == "POST"
    assert req.headers["Prefer"] == "return=representation"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["CustomDescriptionLanguage"] == "EN-US"
    assert req.content == b'{"Name":"Acme","CreditLine":0.1}'
    assert entity == {"ID": "g", "Name": "Acme", "CreditLine": Decimal("0.1")}


def test_put_and_delete_accept_204_without_body(exact: FakeExact) -> None:
    exact.route("crm/Accounts(", lambda r: httpx.Response(204))
    client = make(exact)
    assert client.put("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')", {"Name": "X"}) is None
    assert client.delete("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')") is None
    assert [r.method for r in exact.requests] == ["PUT", "DELETE"]
    assert exact.requests[0].content == b'{"Name":"X"}'
    assert "Prefer" not in exact.requests[0].headers
    # the rate-limit headers of a 204 are booked too
    assert client.rate_limits().minutely_remaining == 58


def test_authorization_header_cannot_be_overridden(exact: FakeExact) -> None:
    with pytest.raises(ValueError, match="credentials"):
        make(exact).request("GET", "crm/Accounts", headers={"Authorization": "Bearer other"})


def test_plain_http_only_for_loopback() -> None:
    ExactOnlineClient(access_token="x", base_url="http://127.0.0.1:8080", division=1).close()
    ExactOnlineClient(access_token="x", base_url="http://localhost:1", division=1).close()
    with pytest.raises(ConfigError, match="only loopback"):
        ExactOnlineClient(access_token="x", base_url="http://start.exactonline.nl", division=1)


def test_unsupported_method(exact: FakeExact) -> None:
    with pytest.raises(ValueError, match="PATCH"):
        make(exact).request("PATCH", "crm/Accounts")


def test_a_remembered_path_keeps_refusing_what_it_refused(exact: FakeExact) -> None:
    # Every page of a read resolves the same (path, division): the result is remembered, never the checks skipped.
    exact.route("/api/v1/", {"d": {"results": []}})
    client = make(exact)
    client.get("crm/Accounts", division=1)
    assert exact.requests[-1].url.path == "/api/v1/1/crm/Accounts"
    sent = len(exact.requests)
    with pytest.raises(ConfigError, match="positive integer"):
        client.get("crm/Accounts", division=True)  # True == 1 and hashes alike: still refused
    with pytest.raises(InvalidPathError):
        client.get(["crm/Accounts"], division=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidPathError):
        client.get("crm/../Accounts", division=1)
    assert len(exact.requests) == sent


def test_the_same_headers_on_every_page_and_extra_headers_still_checked(exact: FakeExact) -> None:
    exact.route("/api/v1/", {"d": {"results": []}})
    client = make(exact, language="nl-NL")
    client.get("crm/Accounts")
    client.request("GET", "crm/Accounts", headers={"X-Trace": "abc"})
    client.get("crm/Accounts")
    first, extra, third = (dict(r.headers) for r in exact.requests[-3:])
    assert first == third
    assert first["customdescriptionlanguage"] == "nl-NL"
    assert extra["x-trace"] == "abc"
    assert "x-trace" not in third
    with pytest.raises(InvalidHeaderError):
        client.request("GET", "crm/Accounts", headers={"X-Bad": "a\nb"})
