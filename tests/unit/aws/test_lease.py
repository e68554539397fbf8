"""The refresher's lease and call book in the coordination table (moto DynamoDB in-process, ManualClock)."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws import metrics_names as m
from exact_online_sdk.aws.lease import DynamoCallBook, RefresherLease, dynamo_client
from exact_online_sdk.aws.refresher import RecordingMetrics, TokenRefresher
from exact_online_sdk.aws.rescue import RescueStore
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock
from tests.support.stack_resources import create_coordination_table

from .conftest import RESCUE, SLOTS
from .fakes import FakeExactTokens

TABLE = "exact-coordination"


@pytest.fixture
def ddb(sm: Any) -> Any:  # sm opens mock_aws for the whole test
    client = dynamo_client()
    create_coordination_table(client, TABLE)
    return client


def lease(ddb: Any, clock: ManualClock, holder: str) -> RefresherLease:
    return RefresherLease(TABLE, SLOTS[0], client=ddb, clock=clock, holder=holder)


def test_one_holder_at_a_time_until_release_or_expiry(ddb: Any, clock: ManualClock) -> None:
    a, b = lease(ddb, clock, "invocation-a"), lease(ddb, clock, "invocation-b")
    assert a.acquire(clock.now() + 100, generation=4)
    assert not b.acquire(clock.now() + 100, generation=4)
    a.release()
    assert b.acquire(clock.now() + 100, generation=4)
    assert not a.acquire(clock.now() + 100, generation=4)
    clock.advance(102)  # b's invocation ended without releasing (killed): the lease expired with it
    assert a.acquire(clock.now() + 100, generation=4)
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"lease#{SLOTS[0]}"}, "sk": {"S": "refresher"}})["Item"]
    assert item["holder"]["S"] == "invocation-a"
    assert int(item["expires_at"]["N"]) >= clock.now() + 100  # the table's TTL attribute


def test_a_lease_for_an_older_generation_is_fenced_off(ddb: Any, clock: ManualClock) -> None:
    a, b = lease(ddb, clock, "a"), lease(ddb, clock, "b")
    assert a.acquire(clock.now() + 100, generation=4)
    # a stored generation 5 and is about to end; b already sees 5 stored: a cannot call Exact for 4 again.
    assert b.acquire(clock.now() + 100, generation=5)
    a.release()  # conditional on the holder: does not drop b's lease
    assert not lease(ddb, clock, "c").acquire(clock.now() + 100, generation=5)


def test_the_call_book_counts_per_utc_day_and_errors_per_hour(ddb: Any, clock: ManualClock) -> None:
    book = DynamoCallBook(TABLE, SLOTS[0], ddb)
    now = clock.now()  # 2026-01-01T00:00Z
    assert book.calls_today(now) == 0
    assert [book.add_call(now + i) for i in range(3)] == [1, 2, 3]
    assert book.calls_today(now + 86_400) == 0  # a new UTC day
    book.add_error(now + 10)
    book.add_error(now + 3_700)
    assert book.errors_last_hour(now + 3_700) == 2
    assert book.errors_last_hour(now + 3 * 3600) == 0


def test_twin_invocations_with_the_lease_call_exact_once(sm: Any, ddb: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    store = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)
    store.save(exact.first_token().replace(chain_id="c"), expected_generation=None)
    clock.advance(580)
    metrics = RecordingMetrics()
    twins: list[TokenRefresher] = []

    def refresh_during_the_twin(token: Token) -> Token:
        outcome = twins[1].run(invocation="twin", deadline=clock.now() + 100)  # the twin runs meanwhile
        assert outcome.action == "busy"
        return exact.refresh(token)

    for name, fn in (("first", refresh_during_the_twin), ("twin", exact.refresh)):
        twins.append(
            TokenRefresher(
                SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True),
                fn,
                clock=clock,
                metrics=metrics,
                rescue=RescueStore(RESCUE, client=sm, clock=clock),
                lease=lease(ddb, clock, name),
                book=DynamoCallBook(TABLE, SLOTS[0], ddb),
            )
        )
    assert twins[0].run(invocation="first", deadline=clock.now() + 100).action == "refreshed"
    assert exact.calls == 1
    assert exact.reused == 0
    assert DynamoCallBook(TABLE, SLOTS[0], ddb).calls_today(clock.now()) == 1
    assert 1.0 in [v for n, v, _, _ in metrics.points if n == m.TOKEN_CALLS_TODAY]
    stored = store.load(fresh=True)
    assert stored is not None
    assert (stored.generation, stored.calls_today) == (2, 1)
