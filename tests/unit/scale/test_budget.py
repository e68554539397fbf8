"""The DynamoDB rate budget, call by call, on moto in-process: the items it writes and the answers it folds in.

Each ``DynamoDbRateBudget`` below stands for one worker process (its own view of the headers, the same table).
The multi-process scenarios over real HTTP are in ``tests/integration/scale/test_shared_budget.py``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import boto3
import pytest
from moto import mock_aws

from exact_online_sdk._core.ratelimit import SAFETY_MARGIN
from exact_online_sdk.exceptions import DailyRateLimitExceeded
from exact_online_sdk.scale._aws import create_coordination_table, make_dynamodb_client
from exact_online_sdk.scale.budget import PROBE_WAIT, DynamoDbRateBudget, budget_partition

T0 = 1_767_225_600.0  # a minute boundary
KEY = ("https://start.exactonline.nl", "app-1", 1001)
TABLE = "coordination"


def answer(now: float, remaining: int, *, limit: int = 60, daily: int = 4000) -> dict[str, str]:
    """The headers Exact sends with an answer counted at ``now`` on its clock."""
    window = math.floor(now / 60)
    return {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": str(daily),
        "x-ratelimit-reset": str((math.floor(now / 86400) + 1) * 86_400_000),
        "x-ratelimit-minutely-limit": str(limit),
        "x-ratelimit-minutely-remaining": str(remaining),
        "x-ratelimit-minutely-reset": str((window + 1) * 60_000),
        "date": formatdate(now, usegmt=True),
    }


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_coordination_table(client, TABLE)
        yield client


def budget(client: Any) -> DynamoDbRateBudget:
    return DynamoDbRateBudget(KEY, TABLE, client=client)


def item(client: Any, sort: str) -> dict[str, Any]:
    found = client.get_item(TableName=TABLE, Key={"pk": {"S": budget_partition(KEY)}, "sk": {"S": sort}})
    return {k: (v.get("N") or v.get("S")) for k, v in found.get("Item", {}).items()}


def test_the_first_call_learns_the_limit_then_the_window_is_shared(dynamodb: Any) -> None:
    a, b = budget(dynamodb), budget(dynamodb)
    now = T0 + 1
    assert a.acquire(now) == 0.0  # nobody knows the limit yet: one call goes out to learn it
    assert b.acquire(now) == PROBE_WAIT
    a.release(now, answer(now, 59))
    minute = item(dynamodb, f"minute#{math.floor(now / 60)}")
    assert minute["pk"] == "budget#https://start.exactonline.nl#app-1#1001"
    assert (minute["rem"], minute["inf"], minute["avail"], minute["lim"]) == ("59", "0", "59", "60")
    assert int(minute["expires_at"]) == (math.floor(now / 60) + 1) * 60 + 3600  # TTL an hour after the window
    # 59 more calls between the two processes, then both wait for the reset
    granted = 0
    for i in range(70):
        if (a if i % 2 else b).acquire(now) == 0.0:
            granted += 1
    assert granted == 59
    wait = a.acquire(now)
    assert wait == pytest.approx(T0 + 60 + SAFETY_MARGIN - now, abs=0.01)
    assert b.acquire(now) == pytest.approx(wait, abs=1.0)  # b's own view of Exact's clock came from no answer


def test_answers_of_other_traffic_shrink_the_window(dynamodb: Any) -> None:
    a, b = budget(dynamodb), budget(dynamodb)
    now = T0 + 5
    a.acquire(now)
    a.release(now, answer(now, 59))
    assert b.acquire(now) == 0.0
    # Someone nobody coordinated made 30 calls meanwhile: b's answer says so.
    b.release(now, answer(now, 28))
    granted = sum(1 for _ in range(40) if a.acquire(now) == 0.0)
    assert granted == 28


def test_answers_arriving_out_of_order_keep_the_lowest_count(dynamodb: Any) -> None:
    a = budget(dynamodb)
    now = T0 + 5
    a.acquire(now)
    a.release(now, answer(now, 59))
    for _ in range(3):
        assert a.acquire(now) == 0.0
    a.release(now, answer(now, 56))  # the third call's answer comes back first
    a.release(now, answer(now, 58))
    a.release(now, answer(now, 57))
    minute = item(dynamodb, f"minute#{math.floor(now / 60)}")
    assert (minute["rem"], minute["inf"], minute["avail"]) == ("56", "0", "56")


def test_a_call_counted_in_the_next_minute_moves_there(dynamodb: Any) -> None:
    a = budget(dynamodb)
    late = T0 + 59.99
    a.acquire(late)
    a.release(late, answer(late, 59))
    assert a.acquire(late) == 0.0  # granted in minute 0 ...
    after = T0 + 60.01
    a.release(after, answer(after, 59))  # ... counted by Exact in minute 1
    first = item(dynamodb, f"minute#{math.floor(late / 60)}")
    second = item(dynamodb, f"minute#{math.floor(after / 60)}")
    assert (first["inf"], first["avail"]) == ("0", "59")
    assert (second["rem"], second["inf"], second["avail"]) == ("59", "0", "59")


def test_a_spent_day_stops_every_process(dynamodb: Any) -> None:
    a, b = budget(dynamodb), budget(dynamodb)
    now = T0 + 5
    a.acquire(now)
    a.release(now, answer(now, 59, daily=1))
    assert b.acquire(now) == 0.0
    b.release(now, answer(now, 58, daily=0))
    with pytest.raises(DailyRateLimitExceeded) as info:
        a.acquire(now)  # a never saw the answer that spent the day: the shared window tells it
    assert info.value.reset_at == pytest.approx(T0 + 86400 + SAFETY_MARGIN, abs=1.5)
    with pytest.raises(DailyRateLimitExceeded):
        b.acquire(now)  # b saw it itself: refused without asking DynamoDB
    day = item(dynamodb, f"day#{math.floor(now / 86400)}")
    assert day["drem"] == "0"


def test_the_next_window_starts_from_the_days_count(dynamodb: Any) -> None:
    a, fresh = budget(dynamodb), budget(dynamodb)
    now = T0 + 5
    a.acquire(now)
    a.release(now, answer(now, 59, daily=100))  # near the day's end the daily item is written on every answer
    later = T0 + 65
    fresh.local.observe(later, answer(later, 60))  # a new process that knows the limit but not the day
    assert fresh.acquire(later) == 0.0
    minute = item(dynamodb, f"minute#{math.floor(later / 60)}")
    assert (minute["drem"], minute["davail"]) == ("100", "99")


def test_dynamodb_down_falls_back_to_the_local_budget_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    client = make_dynamodb_client("eu-west-1", endpoint_url="http://127.0.0.1:9", connect_timeout=0.2)
    down = DynamoDbRateBudget(KEY, TABLE, client=client, fallback_seconds=60)
    now = T0 + 1
    with caplog.at_level(logging.INFO, logger="exact_online_sdk.scale.budget"):
        assert down.acquire(now) == 0.0
        down.release(now, answer(now, 1, limit=2))
        assert down.acquire(now) == 0.0
        down.release(now, answer(now, 0, limit=2))
        assert down.acquire(now) == pytest.approx(60 - 1 + SAFETY_MARGIN, abs=0.01)  # paces on its own view
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pacing on this process's own view" in warnings[0].getMessage()
    with caplog.at_level(logging.INFO, logger="exact_online_sdk.scale.budget"):
        assert down.acquire(T0 + 62) == 0.0  # a minute later it tries the table again, and falls back quietly
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_the_budget_comes_back_when_dynamodb_does(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    shared = budget(dynamodb)
    real = shared._client
    shared._client = make_dynamodb_client("eu-west-1", endpoint_url="http://127.0.0.1:9", connect_timeout=0.2)
    now = T0 + 1
    with caplog.at_level(logging.INFO, logger="exact_online_sdk.scale.budget"):
        assert shared.acquire(now) == 0.0  # locally
        shared.release(now, answer(now, 59))
        shared._client = real
        assert shared.acquire(now + 30) == 0.0  # still on its own for a minute
        assert shared.acquire(now + 61) == 0.0  # then back on the table
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert "answers again" in caplog.records[1].getMessage()
    assert item(dynamodb, f"minute#{math.floor((now + 61) / 60)}")["inf"] == "1"


def test_the_worker_client_shares_its_budgets_when_the_table_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from exact_online_sdk import ExactOnlineClient
    from exact_online_sdk._core.ratelimit import InMemoryRateBudget
    from exact_online_sdk.scale.budget import coordinated_budgets

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("EXACT_TOKEN_SECRET_A", "exact/token-a")
    monkeypatch.setenv("EXACT_TOKEN_SECRET_B", "exact/token-b")
    monkeypatch.delenv("EXACT_COORDINATION_TABLE", raising=False)
    with ExactOnlineClient.from_secrets_manager(secrets_client=object(), division=1001) as alone:
        assert alone._budgets is not coordinated_budgets(TABLE)
    monkeypatch.setenv("EXACT_COORDINATION_TABLE", TABLE)
    with ExactOnlineClient.from_secrets_manager(secrets_client=object(), division=1001) as shared:
        assert shared._budgets is coordinated_budgets(TABLE)  # every worker client of the process: one provider
    own = InMemoryRateBudget()
    with ExactOnlineClient.from_secrets_manager(secrets_client=object(), budget=own) as chosen:
        assert chosen._budget_override is own  # a budget the caller chose wins
        assert chosen._budgets is not coordinated_budgets(TABLE)
