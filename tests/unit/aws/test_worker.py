"""The read-only worker token provider over the Secrets Manager slots (moto in-process, ManualClock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from exact_online_sdk.auth.errors import TokenUnavailable
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.aws.worker import SecretsManagerTokenProvider, worker_client
from exact_online_sdk.client import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.clock import ManualClock

from .conftest import SLOTS
from .fakes import AwsFaults

BASE = "https://start.exactonline.nl"


def token(clock: ManualClock, generation: int, *, age: float = 0.0, life: float = 600.0) -> Token:
    issued = clock.now() - age
    return Token(f"ACCESS-{generation}", f"REFRESH-{generation}", issued, issued + life, generation, writer="refresher")


class Writer:
    """The refresher's side: writes the next generation into the slots."""

    def __init__(self, sm: Any, clock: ManualClock) -> None:
        self.store = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)
        self.generation = 0

    def write(self, tok: Token) -> None:
        self.store.save(tok, expected_generation=self.generation or None)
        self.generation = tok.generation


def provider(sm: Any, clock: ManualClock, **kw: Any) -> SecretsManagerTokenProvider:
    store_kw = {k: kw.pop(k) for k in ("cache_ttl", "expiry_margin") if k in kw}
    store = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, **store_kw)
    return SecretsManagerTokenProvider(store, clock=clock, **kw)


def gets(faults: AwsFaults) -> int:
    return faults.calls.get("GetSecretValue", 0)


def test_reads_are_cached_but_never_past_the_tokens_life(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    p = provider(sm, clock)
    faults.calls.clear()
    assert p.get_access_token() == "ACCESS-1"
    assert gets(faults) == 2  # both slots
    clock.advance(20)
    assert p.get_access_token() == "ACCESS-1"
    assert gets(faults) == 2  # served from the cache
    clock.advance(15)  # 35 s: past the 30 s cache TTL
    p.get_access_token()
    assert gets(faults) == 4
    clock.advance(600 - 35 - 40)  # 40 s left: cached only while more than min_validity (15 s) is left
    p.get_access_token()
    assert gets(faults) == 6
    clock.advance(24)  # 16 s left: still served from the cache
    p.get_access_token()
    assert gets(faults) == 6
    clock.advance(1.5)  # 14.5 s left: re-read (and then wait for the writer)
    writer.write(token(clock, 2))
    faults.calls.clear()
    assert p.get_access_token() == "ACCESS-2"
    assert gets(faults) == 2


def test_near_expiry_forces_a_reread_even_when_the_cache_would_still_serve(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    p = provider(sm, clock, cache_ttl=3600, expiry_margin=0, min_validity=15)
    assert p.token().generation == 1
    clock.advance(570)
    writer.write(token(clock, 2))  # the refresher rotated
    clock.advance(20)  # 10 s left on generation 1, still inside the store's cache
    faults.calls.clear()
    got = p.token()
    assert got.generation == 2
    assert gets(faults) == 2
    assert clock.now() == pytest.approx(writer.store.load(fresh=True).issued_at + 20)  # type: ignore[union-attr]


class TriggerClock(ManualClock):
    """Runs ``action`` once when time passes ``at`` (the refresher writing while a worker polls)."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.triggers: list[tuple[float, Callable[[], None]]] = []
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        super().sleep(seconds)
        due = [t for t in self.triggers if self.now() >= t[0]]
        for trigger in due:
            self.triggers.remove(trigger)
            trigger[1]()


def test_polls_with_backoff_for_the_next_generation(sm: Any, faults: AwsFaults) -> None:
    clock = TriggerClock(1_767_225_600.0)
    writer = Writer(sm, clock)
    writer.write(token(clock, 1, age=590))  # 10 s left: unusable for a worker
    start = clock.now()
    clock.triggers.append((start + 6, lambda: writer.write(token(clock, 2))))
    got = provider(sm, clock, min_validity=15, poll_interval=1.0).token()
    assert got.generation == 2
    assert clock.slept == [1.0, 2.0, 4.0]  # backoff; found on the read after 7 s
    assert clock.now() - start == pytest.approx(7)


def test_gives_up_after_the_poll_timeout_with_token_unavailable(sm: Any, faults: AwsFaults) -> None:
    clock = TriggerClock(1_767_225_600.0)
    Writer(sm, clock).write(token(clock, 1, age=590))
    p = provider(sm, clock, min_validity=15, poll_timeout=90, poll_interval=1.0, max_poll_interval=8.0)
    faults.calls.clear()
    start = clock.now()
    with pytest.raises(TokenUnavailable, match=r"generation 1.*refresher is running"):
        p.token()
    assert clock.now() - start == pytest.approx(90)
    assert max(clock.slept) == 8.0
    assert gets(faults) <= 2 * 16  # bounded: a handful of reads, not a busy loop


def test_empty_slots_and_unreadable_slots_are_token_unavailable(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    p = provider(sm, clock, poll_timeout=5)
    with pytest.raises(TokenUnavailable, match="no token is stored"):
        p.token()
    faults.fail("GetSecretValue", 100, "AccessDeniedException")
    with pytest.raises(TokenUnavailable, match="could not be read"):
        provider(sm, clock).token()


def test_a_failing_store_does_not_stop_a_worker_whose_token_is_still_good(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    """Issue 12 defect 8: three read throttles or one KMS error gave TokenUnavailable with 540 s left."""
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    p = provider(sm, clock)
    assert p.token().generation == 1
    clock.advance(60)  # past the cache TTL: the next call re-reads
    faults.fail("GetSecretValue", 3, "ThrottlingException")
    assert p.token().generation == 1
    faults.fail("GetSecretValue", 200, "KMSInternalException", status=500)  # KMS down for good
    clock.advance(60)
    before = clock.now()
    assert p.get_access_token() == "ACCESS-1"
    assert clock.now() == before  # served at once from the cache, no waiting for the store

    async def run() -> str:
        clock.advance(60)
        return await p.aget_access_token()

    assert asyncio.run(run()) == "ACCESS-1"


def test_a_401_rereads_once_and_offers_only_a_different_valid_token(sm: Any, clock: ManualClock) -> None:
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    p = provider(sm, clock)
    assert p.on_unauthorized("ACCESS-1") is None  # the store holds the very token Exact refused
    writer.write(token(clock, 2))
    assert p.on_unauthorized("ACCESS-1") == "ACCESS-2"


def me_transport(seen: list[httpx.Request], valid: Callable[[str], bool]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if not valid(request.headers.get("authorization", "")[7:]):
            return httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
        return httpx.Response(200, json={"d": {"results": [{"CurrentDivision": 1001, "UserName": "w"}]}})

    return httpx.MockTransport(handle)


def test_the_worker_client_never_calls_the_token_endpoint_across_expiries(sm: Any, clock: ManualClock) -> None:
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    seen: list[httpx.Request] = []
    client = worker_client(
        slots=SLOTS, secrets_client=sm, clock=clock, base_url=BASE, transport=me_transport(seen, lambda t: True)
    )
    with client:
        for _ in range(1, 40):  # 39 minutes: four generations
            clock.advance(60)
            current = writer.store.load(fresh=True)
            assert current is not None
            if current.expires_at - clock.now() < 30:
                writer.write(token(clock, current.generation + 1))
            assert client.get("current/Me")[0]["CurrentDivision"] == 1001
    assert writer.generation >= 4
    assert all("/oauth2/" not in r.url.path for r in seen)
    assert {r.headers["authorization"] for r in seen} >= {f"Bearer ACCESS-{g}" for g in range(2, 5)}


def test_from_secrets_manager_reads_the_slots_from_the_environment(
    sm: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    Writer(sm, clock).write(token(clock, 1))
    monkeypatch.setenv("EXACT_TOKEN_SECRET_A", SLOTS[0])
    monkeypatch.setenv("EXACT_TOKEN_SECRET_B", SLOTS[1])
    seen: list[httpx.Request] = []
    with ExactOnlineClient.from_secrets_manager(
        secrets_client=sm, clock=clock, base_url=BASE, transport=me_transport(seen, lambda t: t == "ACCESS-1")
    ) as client:
        assert client.get("current/Me")[0]["UserName"] == "w"
    assert seen[0].headers["authorization"] == "Bearer ACCESS-1"


def test_async_client_and_provider(sm: Any, clock: ManualClock) -> None:
    writer = Writer(sm, clock)
    writer.write(token(clock, 1))
    calls: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer ACCESS-1":
            writer.write(token(clock, 2))  # rotated meanwhile; Exact now refuses generation 1
            return httpx.Response(401)
        return httpx.Response(200, content=json.dumps({"d": {"results": [{"CurrentDivision": 1001}]}}))

    async def main() -> Any:
        client = AsyncExactOnlineClient.from_secrets_manager(
            slots=SLOTS, secrets_client=sm, clock=clock, base_url=BASE, transport=httpx.MockTransport(handle)
        )
        async with client:
            provider_ = client._auth
            assert isinstance(provider_, SecretsManagerTokenProvider)
            assert await provider_.aget_access_token() == "ACCESS-1"
            return await client.get("current/Me")

    assert asyncio.run(main())[0]["CurrentDivision"] == 1001
    assert calls == ["Bearer ACCESS-1", "Bearer ACCESS-2"]  # one re-read, one retry, no loop


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        SecretsManagerTokenProvider(SecretsManagerTokenStorage(slots=SLOTS), poll_interval=0)
    assert "token-a" in repr(SecretsManagerTokenProvider(SecretsManagerTokenStorage(slots=SLOTS)))
