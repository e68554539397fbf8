"""Workers over real HTTP: the worker client against the emulator, its token read from the moto server."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_sdk.auth import ReadOnlyTokenStorage
from exact_online_sdk.auth.errors import ReadOnlyRefreshRefused, TokenUnavailable
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.client import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.contrib.aws import SecretsManagerTokenStorage as SeedStorage


def seed_token(emu: Any, clock: ManualClock, prefix: str) -> Token:
    """What the bootstrap/refresher leaves in the slots: a real token pair of the emulator, generation 1."""
    pair = emu.control.issue_token()
    now = clock.now()
    tok = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), 1)
    SecretsManagerTokenStorage(prefix, clock=clock, writable=True).save(tok, expected_generation=None)
    return tok


def test_worker_client_pages_through_an_endpoint(emu: Any, clock: ManualClock, prefix: str) -> None:
    seed_token(emu, clock, prefix)
    division = emu.config.current_division
    with ExactOnlineClient.from_secrets_manager(prefix, base_url=emu.base_url, clock=clock, division=division) as c:
        rows = list(c.iter_rows("crm/Accounts", {"$select": "ID,Name"}))
    assert len(rows) == emu.control.table("crm/Accounts").count() == 30
    assert all(set(r) == {"ID", "Name"} for r in rows)


def test_async_worker_client(emu: Any, clock: ManualClock, prefix: str) -> None:
    import asyncio

    seed_token(emu, clock, prefix)

    async def main() -> Any:
        async with AsyncExactOnlineClient.from_secrets_manager(prefix, base_url=emu.base_url, clock=clock) as c:
            return await c.get("current/Me")

    assert asyncio.run(main())[0]["CurrentDivision"] == emu.config.current_division


def test_the_seed_form_works_and_refuses_writes_before_any_network_call(
    emu: Any, clock: ManualClock, prefix: str
) -> None:
    seed_token(emu, clock, prefix)
    storage = ReadOnlyTokenStorage(SeedStorage(prefix, region_name="eu-west-1", clock=clock), clock=clock)
    with ExactOnlineClient(auth=storage, base_url=emu.base_url, clock=clock) as client:
        assert client.get("current/Me")[0]["UserName"]
    before = emu.control.counters().get("token_calls", 0)
    with pytest.raises(ReadOnlyRefreshRefused):
        storage.save(storage.fresh_token(), expected_generation=1)
    assert emu.control.counters().get("token_calls", 0) == before


@pytest.mark.parametrize("form", ["provider", "seed"])
def test_a_read_only_worker_never_reaches_the_token_endpoint_at_or_after_expiry(
    emu: Any, clock: ManualClock, prefix: str, form: str
) -> None:
    tok = seed_token(emu, clock, prefix)
    if form == "provider":
        client = ExactOnlineClient.from_secrets_manager(prefix, base_url=emu.base_url, clock=clock, poll_timeout=20)
    else:
        store = ReadOnlyTokenStorage(SeedStorage(prefix, clock=clock), clock=clock, poll_timeout=20)
        client = ExactOnlineClient(auth=store, base_url=emu.base_url, clock=clock)
    with client:
        assert client.get("current/Me")
        clock.set(tok.expires_at - 5)  # at expiry: no refresher is running
        with pytest.raises(TokenUnavailable):
            client.get("current/Me")
        clock.set(tok.expires_at + 120)  # long after
        with pytest.raises(TokenUnavailable):
            client.get("current/Me")
        emu.control.expire_access_tokens()
    counters = emu.control.counters()
    assert counters.get("token_calls", 0) == 0
    assert counters.get("unauthorized", 0) == 0  # it never even sent the expired token
    assert not [r for r in emu.control.requests() if "oauth2" in r["path"]]
