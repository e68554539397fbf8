"""The blocking and the asyncio shells of the token refresh (``refresh_flow``) and of the read-only source
(``read_flow``) decide the same: one table of cases, both shells, the same calls at Exact and the same outcome
(the house style of tests/unit/core/test_shells.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from exact_online_sdk.auth import ExactOnlineAuth, MemoryTokenStorage, ReadOnlyTokenStorage
from exact_online_sdk.auth.store import TokenStoreError
from exact_online_sdk.auth.token import Token
from exact_online_sdk.clock import ManualClock

from .fake_exact import FakeExact

START = 1_767_225_600.0


class FlakyStore(MemoryTokenStorage):
    def __init__(self, token: Token | None, failures: int) -> None:
        super().__init__(token)
        self.failures = failures

    def save(self, token: Token, *, expected_generation: int | None) -> None:
        if self.failures:
            self.failures -= 1
            raise TokenStoreError("disk full")
        super().save(token, expected_generation=expected_generation)


@dataclass
class RefreshCase:
    name: str
    age: float
    faults: list[Exception]
    force: bool = False
    retry_unknown: bool = False
    save_failures: int = 0
    tries: int = 1
    dead: bool = False


REFRESH_CASES = [
    RefreshCase("not-due", 100, []),
    RefreshCase("due", 580, []),
    RefreshCase("lost-before-exact-read-it", 580, [httpx.WriteTimeout("lost")]),
    RefreshCase("lost-after-rotation", 580, [httpx.ReadTimeout("lost")], tries=2),
    RefreshCase("lost-twice", 580, [httpx.WriteTimeout("lost"), httpx.WriteTimeout("again")], tries=2),
    RefreshCase("too-early", 100, [], force=True),
    RefreshCase("reused", 580, [], dead=True, tries=2),
    RefreshCase("save-fails", 580, [], save_failures=3, tries=2),
    RefreshCase("retry-unknown-on-request", 580, [], retry_unknown=True),
]


def _world(case: RefreshCase) -> tuple[ExactOnlineAuth, FakeExact, MemoryTokenStorage, ManualClock]:
    clock = ManualClock(START)
    exact = FakeExact(clock)
    seed = exact.seed()
    if case.dead:
        exact.dead.add(seed.refresh_token)
    store = FlakyStore(seed, case.save_failures)
    faults = list(case.faults)

    def handler(request: httpx.Request) -> httpx.Response:
        if faults:
            exact.fail_next = faults.pop(0)
        return exact.handler(request)

    auth = ExactOnlineAuth(
        storage=store,
        client_id="cid",
        client_secret="s3cret",
        redirect_uri="https://app.example/cb",
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    clock.advance(case.age)
    return auth, exact, store, clock


def _outcome(call: Callable[[], Token]) -> str:
    try:
        return f"generation {call().generation}"
    except Exception as exc:
        return type(exc).__name__


def _run_sync(case: RefreshCase) -> tuple[list[str], list[str], int]:
    auth, exact, store, clock = _world(case)
    outcomes = []
    for _ in range(case.tries):
        if case.force or case.retry_unknown:
            outcomes.append(_outcome(lambda: auth.refresh(force=case.force, retry_unknown=case.retry_unknown)))
        else:
            outcomes.append(_outcome(auth.get_token))
        clock.advance(25)
    stored = store.load()
    return outcomes, list(exact.calls), stored.generation if stored else 0


def _run_async(case: RefreshCase) -> tuple[list[str], list[str], int]:
    auth, exact, store, clock = _world(case)

    async def run() -> list[str]:
        outcomes = []
        for _ in range(case.tries):
            try:
                if case.force or case.retry_unknown:
                    token = await auth.arefresh(force=case.force, retry_unknown=case.retry_unknown)
                else:
                    token = await auth.aget_token()
                outcomes.append(f"generation {token.generation}")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
            clock.advance(25)
        return outcomes

    outcomes = asyncio.run(run())
    stored = store.load()
    return outcomes, list(exact.calls), stored.generation if stored else 0


@pytest.mark.parametrize("case", REFRESH_CASES, ids=[c.name for c in REFRESH_CASES])
def test_both_refresh_shells_decide_the_same(case: RefreshCase) -> None:
    blocking = _run_sync(case)
    asynchronous = _run_async(case)
    assert blocking == asynchronous


def test_the_refresh_table_covers_the_rules() -> None:
    results = {case.name: _run_sync(case) for case in REFRESH_CASES}
    assert results["not-due"] == (["generation 1"], [], 1)
    assert results["due"] == (["generation 2"], ["refresh_token"], 2)
    assert results["lost-before-exact-read-it"] == (["generation 2"], ["lost:refresh_token", "refresh_token"], 2)
    assert results["lost-after-rotation"][0] == ["RefreshTokenReused", "RefreshTokenReused"]
    assert results["lost-after-rotation"][1] == ["lost:refresh_token", "refresh_token"]  # sent, resent once
    assert results["lost-twice"][0] == ["RefreshOutcomeUnknown", "RefreshOutcomeUnknown"]
    assert len(results["lost-twice"][1]) == 2  # never a third send
    assert results["too-early"][0] == ["TooEarlyToRefresh"]
    assert results["reused"] == (["RefreshTokenReused", "RefreshTokenReused"], ["refresh_token"], 1)
    assert results["save-fails"][0] == ["TokenStoreError", "generation 2"]  # kept, stored on the next call
    assert results["save-fails"][1] == ["refresh_token"]


@dataclass
class ReadCase:
    name: str
    stored: list[Token | None]
    failures: int = 0
    cached: bool = False
    advance: float = 0.0


def _tok(generation: int, issued: float) -> Token:
    return Token(f"A{generation}", f"R{generation}", issued, issued + 600, generation)


READ_CASES = [
    ReadCase("fresh", [_tok(1, START)]),
    ReadCase("cached", [_tok(1, START)], cached=True, advance=10),
    ReadCase("near-expiry-newer-stored", [_tok(1, START - 590), _tok(2, START)]),
    ReadCase("poll-until-the-writer-stores", [_tok(1, START - 590), None, None, _tok(2, START)]),
    ReadCase("store-failing-cache-good", [_tok(1, START)], failures=5, cached=True, advance=60),
    ReadCase("nothing-stored", [None]),
    ReadCase("expiring-and-nothing-newer", [_tok(1, START - 590)]),
]


class ScriptedStore(MemoryTokenStorage):
    """Each load returns the next scripted token (the last one repeats); ``failures`` loads fail first."""

    def __init__(self, script: list[Token | None], failures: int) -> None:
        super().__init__(None)
        self.script, self.failures, self.loads = list(script), failures, 0

    def load(self) -> Token | None:
        self.loads += 1
        if self.failures and self.loads > 1:
            self.failures -= 1
            raise TokenStoreError("throttled")
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _read(case: ReadCase, run: Callable[[ReadOnlyTokenStorage], Any]) -> tuple[str, int, float]:
    clock = ManualClock(START)
    store = ScriptedStore(case.stored, case.failures)
    source = ReadOnlyTokenStorage(store, clock=clock, poll_timeout=30)
    if case.cached:
        run(source)
        clock.advance(case.advance)
    try:
        outcome = f"generation {run(source).generation}"
    except Exception as exc:
        outcome = type(exc).__name__
    return outcome, store.loads, clock.now() - START


@pytest.mark.parametrize("case", READ_CASES, ids=[c.name for c in READ_CASES])
def test_both_read_shells_decide_the_same(case: ReadCase) -> None:
    blocking = _read(case, lambda source: source.fresh_token())
    asynchronous = _read(case, lambda source: asyncio.run(source.afresh_token()))
    assert blocking == asynchronous
    expected = {
        "fresh": ("generation 1", 1),
        "cached": ("generation 1", 1),
        "near-expiry-newer-stored": ("generation 2", 2),
        "poll-until-the-writer-stores": ("generation 2", 4),
        "store-failing-cache-good": ("generation 1", 2),
        "nothing-stored": ("TokenUnavailable", None),
        "expiring-and-nothing-newer": ("TokenUnavailable", None),
    }[case.name]
    assert blocking[0] == expected[0]
    if expected[1] is not None:
        assert blocking[1] == expected[1]
