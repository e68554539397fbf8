"""The refresher's coordination in DynamoDB: a lease so twin invocations never call Exact at once, and the
book of token-endpoint calls (Exact allows about 200 a day and 10 errors an hour).

The stack's coordination table (``EXACT_COORDINATION_TABLE``) has partition key ``pk`` (S), sort key ``sk`` (S)
and the TTL attribute ``expires_at`` (N, epoch seconds). Items of one chain (``pk = lease#<slot A secret id>``):

- ``sk = refresher``: the lease. Taken by a conditional write that succeeds only when no lease exists, it has
  expired, or it is fenced off (its ``generation`` is older than the one the taker saw stored: its holder's refresh
  already landed). Held until the invocation's deadline and released at the end of the run.
- ``sk = calls#<YYYY-MM-DD>`` (``calls``) and ``sk = errors#<YYYY-MM-DDTHH>`` (``errors``): atomic counters.

Without a table the refresher works as before: :class:`MemoryCallBook` counts in the warm container (and the
token state carries the day's count), and no lease is taken (reserved concurrency 1, if configured, is then the
only guard against twin invocations).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from ..auth.store import TokenStoreError
from ..auth.token import utc_day
from ..clock import Clock
from ._boto import aws_errors, error_code, make_client

__all__ = ["CallBook", "DynamoCallBook", "MemoryCallBook", "RefresherLease", "dynamo_client"]

logger = logging.getLogger("exact_online_sdk.aws.lease")

_KEEP_COUNTERS = 3 * 86400  # TTL of the counter items


def dynamo_client(region_name: str | None = None, *, endpoint_url: str | None = None) -> Any:
    """A DynamoDB client with short timeouts and no botocore retries."""
    return make_client("dynamodb", region_name, endpoint_url=endpoint_url, read_timeout=5)


def _hour(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H")


class CallBook(Protocol):
    """Counts token-endpoint calls per UTC day and errors per clock hour (times on Exact's clock)."""

    def calls_today(self, now: float) -> int:
        """Calls recorded for ``now``'s UTC day."""
        ...

    def add_call(self, now: float) -> int:
        """Record one call; returns the day's count including it."""
        ...

    def errors_last_hour(self, now: float) -> int:
        """Errors of this clock hour and the previous one (at least every error of the last 60 minutes)."""
        ...

    def add_error(self, now: float) -> None:
        """Record one error answer (400/401/403/404 count at Exact)."""
        ...


class MemoryCallBook:
    """A :class:`CallBook` in process memory (a warm Lambda container, tests)."""

    def __init__(self) -> None:
        self._calls: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._lock = threading.Lock()

    def calls_today(self, now: float) -> int:
        with self._lock:
            return self._calls.get(utc_day(now), 0)

    def add_call(self, now: float) -> int:
        day = utc_day(now)
        with self._lock:
            self._calls[day] = self._calls.get(day, 0) + 1
            return self._calls[day]

    def seed(self, now: float, calls: int) -> None:
        """Raise the day's count to at least ``calls`` (what the stored token says was spent)."""
        day = utc_day(now)
        with self._lock:
            self._calls[day] = max(self._calls.get(day, 0), calls)

    def errors_last_hour(self, now: float) -> int:
        with self._lock:
            return self._errors.get(_hour(now), 0) + self._errors.get(_hour(now - 3600), 0)

    def add_error(self, now: float) -> None:
        hour = _hour(now)
        with self._lock:
            self._errors[hour] = self._errors.get(hour, 0) + 1


class DynamoCallBook:
    """A :class:`CallBook` in the coordination table, shared by every refresher container of the chain."""

    def __init__(self, table: str, chain_key: str, client: Any) -> None:
        self.table = table
        self.pk = f"lease#{chain_key}"
        self.client = client

    def _get(self, sk: str, attribute: str) -> int:
        try:
            item = self.client.get_item(
                TableName=self.table, Key={"pk": {"S": self.pk}, "sk": {"S": sk}}, ConsistentRead=True
            ).get("Item")
        except aws_errors() as exc:
            raise TokenStoreError(f"cannot read the coordination table: {error_code(exc) or exc}") from exc
        return int(item[attribute]["N"]) if item and attribute in item else 0

    def _add(self, sk: str, attribute: str, now: float) -> int:
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": self.pk}, "sk": {"S": sk}},
                UpdateExpression="ADD #n :one SET expires_at = :ttl",
                ExpressionAttributeNames={"#n": attribute},
                ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(now) + _KEEP_COUNTERS)}},
                ReturnValues="UPDATED_NEW",
            )
        except aws_errors() as exc:
            raise TokenStoreError(f"cannot update the coordination table: {error_code(exc) or exc}") from exc
        return int(answer["Attributes"][attribute]["N"])

    def calls_today(self, now: float) -> int:
        return self._get(f"calls#{utc_day(now)}", "calls")

    def add_call(self, now: float) -> int:
        return self._add(f"calls#{utc_day(now)}", "calls", now)

    def errors_last_hour(self, now: float) -> int:
        return self._get(f"errors#{_hour(now)}", "errors") + self._get(f"errors#{_hour(now - 3600)}", "errors")

    def add_error(self, now: float) -> None:
        self._add(f"errors#{_hour(now)}", "errors", now)


class RefresherLease:
    """The conditional-write lease of one chain's refresher (see the module doc). Times on ``clock`` (AWS's)."""

    def __init__(self, table: str, chain_key: str, *, client: Any, clock: Clock, holder: str) -> None:
        self.table = table
        self.key = {"pk": {"S": f"lease#{chain_key}"}, "sk": {"S": "refresher"}}
        self.client = client
        self.clock = clock
        self.holder = holder
        self._held = False

    def __repr__(self) -> str:
        return f"RefresherLease(table={self.table!r}, holder={self.holder!r}, held={self._held})"

    def acquire(self, until: float, generation: int) -> bool:
        """Take the lease until ``until`` (epoch seconds) for ``generation``; False when another holds it."""
        now = self.clock.now()
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self.key,
                    "holder": {"S": self.holder},
                    "generation": {"N": str(generation)},
                    "expires_at": {"N": str(int(until) + 1)},
                    "taken_at": {"N": str(int(now))},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #g < :gen OR holder = :me",
                ExpressionAttributeNames={"#g": "generation"},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":gen": {"N": str(generation)},
                    ":me": {"S": self.holder},
                },
            )
        except aws_errors() as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                logger.info("another refresher invocation holds the lease; this one stays away from Exact")
                return False
            raise TokenStoreError(f"cannot take the refresher lease: {error_code(exc) or exc}") from exc
        self._held = True
        return True

    def release(self) -> None:
        """Give the lease back (only if this holder still has it)."""
        if not self._held:
            return
        self._held = False
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self.key,
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )
        except aws_errors() as exc:
            # Harmless: the lease expires at the invocation's deadline anyway.
            logger.warning("could not release the refresher lease (%s)", error_code(exc) or type(exc).__name__)
