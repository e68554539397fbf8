"""Every one of the 358 endpoints parses a page the emulator serves (real HTTP on 127.0.0.1).

The emulator's pages carry ``__metadata``, ``/Date()/`` values, Int64-as-string, deferred navigation and, with
``$expand``, expanded ``results``; an unknown extra field is added by rewriting one page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exact_online_sdk.api.endpoints import SalesInvoicesAPI
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, EmulatorHandle, run_emulator
from exact_online_sdk.models import ExactModel, parse_page
from exact_online_sdk.registry import Endpoint, registry

pytestmark = pytest.mark.xdist_group("emulator-all-endpoints")

READABLE = [ep for ep in registry() if "GET" in ep.methods]
_CONFIG = EmulatorConfig(rows=4, minutely_limit=1_000_000, daily_limit=10_000_000)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    # Generous limits: this module checks parsing, not pacing (the client would wait out the minute).
    with run_emulator(_CONFIG) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emulator: EmulatorHandle) -> Iterator[ExactOnlineClient]:
    with ExactOnlineClient(
        access_token=emulator.token(), base_url=emulator.base_url, division=_CONFIG.current_division
    ) as c:
        yield c


def _api(ep: Endpoint) -> Any:
    from exact_online_sdk.api import endpoints

    names = [n for n in endpoints.__all__ if not n.startswith("Async")]
    return next(getattr(endpoints, n) for n in names if getattr(endpoints, n).path == ep.path)


@pytest.mark.parametrize("ep", READABLE, ids=[ep.path for ep in READABLE])
def test_endpoint_parses_an_emulator_page(ep: Endpoint, client: ExactOnlineClient) -> None:
    api = _api(ep)(client)
    params = {"$filter": "Timestamp gt 0L"} if ep.kind == "sync" else None
    rows = list(api.iter(params=params, top=5)) if ep.kind != "sync" else list(api.iter_since(0))[:5]
    scalar = [f for f in ep.fields if not f.is_navigation]
    for row in rows:
        assert isinstance(row, api.row)
        assert row.extras == {}, f"unknown fields from the emulator: {row.extras}"
        dumped = row.to_model().model_dump(by_alias=True, exclude_unset=True)
        assert "__metadata" not in dumped
        assert set(dumped) <= {f.name for f in ep.fields}
        assert scalar  # every endpoint has typed fields


def test_expanded_lines_and_extras(client: ExactOnlineClient) -> None:
    page = next(client.iter_pages("salesinvoice/SalesInvoices", {"$expand": "SalesInvoiceLines", "$top": 2}))
    assert page.rows, "the emulator seeds sales invoices"
    invoices = parse_page(SalesInvoicesAPI.model, page.content.replace(b'"InvoiceID"', b'"NewField":1,"InvoiceID"', 1))
    first = invoices.rows[0]
    assert first.model_extra == {"NewField": 1}
    assert first.sales_invoice_lines, "expanded lines parse into typed rows"
    assert all(isinstance(line, ExactModel) for line in first.sales_invoice_lines)
    assert type(first.sales_invoice_lines[0]).__name__ == "SalesInvoiceLine"
    deferred = SalesInvoicesAPI(client).list(top=1)[0]
    assert deferred.sales_invoice_lines is None
