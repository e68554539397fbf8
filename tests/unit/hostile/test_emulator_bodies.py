"""Issue 15.2/15.3 in the emulator: request bodies are read under a size cap and parsed with the SDK's bounded
JSON reader, so ``{"Amount": 1e100000000}`` is a 400 at once (it used to hold the event loop for seconds while a
100-million-digit integer was built), and filter literals in the URL are bounded the same way. Over real HTTP on
127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import ClassVar

import httpx
import pytest

from exact_online_sdk import edm
from exact_online_sdk.emulator import EmulatorConfig, EmulatorHandle, bodies, run_emulator
from exact_online_sdk.emulator.exceptions import ApiError


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig()) as handle:
        yield handle


def _api(emulator: EmulatorHandle) -> httpx.Client:
    division = emulator.config.current_division
    return httpx.Client(
        base_url=f"{emulator.base_url}/api/v1/{division}/",
        headers={"Authorization": f"Bearer {emulator.token()}", "Accept": "application/json"},
        timeout=30,
    )


def _message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"]["value"])


@pytest.mark.parametrize(
    "field", ["PurchaseLeadDays", "CreditLineSales", "Name"], ids=["Edm.Int32", "Edm.Double", "Edm.String"]
)
def test_a_number_beyond_exacts_ranges_in_a_post_is_a_400_naming_the_range(
    emulator: EmulatorHandle, field: str
) -> None:
    with _api(emulator) as api:
        answer = api.post("crm/Accounts", content=b'{"Name":"Bomb","' + field.encode() + b'":1e100000000}')
        assert answer.status_code == 400
        assert "out of range for Edm.Double and Edm.Int64" in _message(answer)
        # the server is still answering (and stored nothing)
        found = api.get("crm/Accounts", params={"$filter": "Name eq 'Bomb'", "$select": "ID"})
        assert found.status_code == 200
        assert found.json()["d"]["results"] == []


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"Name":"x","PurchaseLeadDays":' + b"9" * 5000 + b"}", '{"Name":"x"}'.encode("utf-16")],
    ids=["deep", "5000-digits", "utf-16"],
)
def test_malformed_bodies_are_400_not_500(emulator: EmulatorHandle, body: bytes) -> None:
    with _api(emulator) as api:
        answer = api.post("crm/Accounts", content=body)
    assert answer.status_code == 400
    assert "Error processing request stream" in _message(answer)


def test_an_int32_field_with_an_integral_huge_decimal_is_refused_not_expanded() -> None:
    # the conversion that used to build a 100-million-digit int on the emulator's event loop
    with pytest.raises(edm.EdmValueError, match="outside"):
        edm.parse_int(Decimal("1e100000000"), "Edm.Int32")


def test_a_body_over_the_cap_is_413_while_it_streams_in(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies, "MAX_REQUEST_BODY", 1024 * 1024)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold while reading
        yield b'{"Name":"'
        for _ in range(64):
            yield b"x" * (64 * 1024)
        yield b'"}'

    with _api(emulator) as api:
        answer = api.post("crm/Accounts", content=chunks())
    assert answer.status_code == 413
    assert "larger than the server accepts" in _message(answer)


def test_control_bodies_that_are_not_json_are_400(emulator: EmulatorHandle) -> None:
    answer = httpx.post(
        f"{emulator.base_url}/_emulator/clock/advance",
        content=b"[" * 100_000,
        headers={"X-Emulator-Control": "1", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "not valid JSON" in _message(answer)


@pytest.mark.parametrize("literal", ["9" * 5000, "9" * 5000 + "L", "1e999D", "1e100000000M", "99999999999999999999L"])
def test_filter_literals_beyond_the_ranges_are_400(emulator: EmulatorHandle, literal: str) -> None:
    with _api(emulator) as api:
        answer = api.get("crm/Accounts", params={"$filter": f"PurchaseLeadDays eq {literal}", "$select": "ID"})
    assert answer.status_code == 400


def test_read_body_refuses_an_announced_oversize_body() -> None:
    class Announced:
        headers: ClassVar[dict[str, str]] = {"content-length": str(bodies.MAX_REQUEST_BODY + 1)}

        async def stream(self) -> Iterator[bytes]:  # pragma: no cover - never read
            raise AssertionError("read")

    import asyncio

    with pytest.raises(ApiError) as caught:
        asyncio.run(bodies.read_body(Announced()))  # type: ignore[arg-type]
    assert caught.value.status == 413
