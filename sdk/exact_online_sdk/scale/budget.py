"""Exact's rate budget shared by every process of one app, kept in the stack's DynamoDB coordination table.

Exact counts calls per (app, division): 60 a minute in clock-aligned minutes, 5,000 a UTC day. Each process paces
itself perfectly on its own, but several workers on one division cannot see each other's calls; together they draw
429s. :class:`DynamoDbRateBudget` moves the book-keeping of the in-process budget
(:class:`~exact_online_sdk._core.ratelimit.InMemoryRateBudget`) into one item per (host, client id, division) and
**minute window of Exact's clock**, changed only by conditional atomic updates, so every worker and Lambda handler
draws from the same budget:

``avail``  calls that may still be sent in the window: the lowest ``remaining`` any answer reported (``rem``) minus the
           calls granted and not yet answered (``inf``). A call is granted only while ``avail > 0``.
``davail`` the same for the day (``drem`` - ``inf``); the window's first writer seeds ``drem`` from the daily item.
``lim``    the minutely limit, once an answer said it (until then one call at a time goes out to learn it).

Every answer's ``X-RateLimit-*-Remaining`` lowers ``rem``/``drem`` when it is lower than what the item holds, so
traffic nobody coordinated (another deployment of the same app, a developer's laptop) shrinks the shared budget as
soon as one answer reports it. A call counted by Exact in the next minute than the one it was granted in (sent at the
very end of a window) is moved there by its answer. The windows are Exact's: each process learns where Exact's clock
stands from the answers (:class:`~exact_online_sdk._core.ratelimit.ServerClock`), and waits for a reset by that.

The daily item (``sk = day#<n>``) keeps the day's lowest ``remaining`` for the next window's first writer; it is
written about every 50 calls, and on every call once fewer than ``2 x minutely limit`` are left. Items carry
``expires_at`` (TTL): a minute item an hour after its window, a daily item two days after its day.

It never makes things worse than no coordination: when DynamoDB is slow (no answer within the client's 2 s read
timeout) or down, the process paces on its own view of the headers (the in-process budget) and says so once in a
warning; it tries the table again a minute later.

Cost: two DynamoDB write requests per Exact call (grant and answer) plus about one per worker per minute that finds
the window spent; on-demand that is about 1 write request unit each (items are far below 1 KB).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.ratelimit import (
    BudgetKey,
    HeaderLimits,
    InMemoryRateBudget,
    RateBudgetBackend,
    RateLimitSnapshot,
    parse_rate_limit_headers,
    set_budget_factory,
)
from ..exceptions import DailyRateLimitExceeded
from ._aws import is_aws_failure, is_conditional_failure, make_dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["BudgetProvider", "DynamoDbRateBudget", "budget_partition", "coordinated_budgets", "use_coordinated_budgets"]

log = logging.getLogger("exact_online_sdk.scale.budget")

MINUTE = 60
DAY = 86_400
PROBE_WAIT = 0.05
"""Seconds to wait while the window's first call is out to learn the limit, or while calls in flight may free room."""
UNKNOWN = 1_000_000_000
"""``rem``/``drem`` of a window whose remaining calls nobody knows yet (the first answer replaces it)."""
DAILY_STEP = 50
"""Calls between two writes of the daily item while plenty of the day is left."""
FALLBACK_SECONDS = 60.0
"""How long a process paces on its own after DynamoDB failed, before trying the table again."""
MINUTE_ITEM_TTL = 3600
DAY_ITEM_TTL = 2 * DAY
FOLD_ATTEMPTS = 6

BudgetProvider = Callable[[BudgetKey], RateBudgetBackend]
"""Where the budget of each (host, client id, division) is kept (``budgets=`` of a client)."""


def budget_partition(key: BudgetKey) -> str:
    """The partition key of one budget: ``budget#<host>#<client id>#<division>`` (``-`` for none)."""
    host, client_id, division = key
    return f"budget#{host}#{client_id or '-'}#{'-' if division is None else division}"


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(int(value))}


def _num(item: Mapping[str, Any], name: str) -> int | None:
    cell = item.get(name)
    return int(cell["N"]) if isinstance(cell, Mapping) and "N" in cell else None


@dataclass(slots=True)
class _Answer:
    """What one answer says about the shared windows."""

    window: int | None  # Exact's minute the call was counted in (from the minutely reset)
    remaining: int | None
    limit: int | None
    daily_remaining: int | None
    daily_limit: int | None

    @classmethod
    def of(cls, limits: HeaderLimits) -> _Answer:
        window = None if limits.minutely_reset is None else round(limits.minutely_reset / MINUTE) - 1
        return cls(window, limits.minutely_remaining, limits.minutely_limit, limits.daily_remaining, limits.daily_limit)


class _Unavailable(Exception):
    """DynamoDB gave no normal answer."""


class DynamoDbRateBudget:
    """The rate budget of one (host, client id, division), shared through DynamoDB. Thread-safe.

    ``local`` is this process's own view of the headers: it calibrates Exact's clock, keeps the snapshot, and paces
    alone while DynamoDB is unavailable.
    """

    def __init__(
        self,
        key: BudgetKey,
        table: str,
        *,
        client: DynamoDBClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        fallback_seconds: float = FALLBACK_SECONDS,
    ) -> None:
        self.key = key
        self.table = table
        self.partition = budget_partition(key)
        self.local = InMemoryRateBudget()
        self.fallback_seconds = fallback_seconds
        self._client = client or make_dynamodb_client(region_name, endpoint_url=endpoint_url)
        self._lock = threading.Lock()
        self._outstanding: dict[int | None, int] = {}  # window -> calls granted here, not yet answered (None: local)
        self._known: dict[int, dict[str, Any]] = {}  # the last state seen of recent window items
        self._degraded_until: float | None = None
        self._outage = False  # said once per outage, until DynamoDB answers again
        self.fallbacks = 0
        """How many times DynamoDB failed and this process paced on its own for a while."""
        self._daily_written: int | None = None
        self._last_limit: int | None = None

    def __repr__(self) -> str:
        return f"DynamoDbRateBudget(table={self.table!r}, key={self.partition!r})"

    # --- the protocol -------------------------------------------------------------------------------------------
    def acquire(self, now: float) -> float:
        if self._degraded(now):
            return self._acquire_locally(now)
        clock = self.local.clock
        server_now = clock.server_now(now)
        window = math.floor(server_now / MINUTE)
        self._refuse_if_day_spent(now, server_now)
        try:
            granted, item, created = self._reserve(window, now)
        except _Unavailable as exc:
            self._degrade(now, exc)
            return self._acquire_locally(now)
        self._recovered()
        if granted:
            with self._lock:
                self._outstanding[window] = self._outstanding.get(window, 0) + 1
            if created:
                self._seed_daily(window, now)
            return 0.0
        return self._wait_for(item, window, now, server_now)

    def release(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        with self._lock:
            window = self._take_reservation(headers)
        if window is None:
            self.local.release(now, headers, rejected=rejected)
            return
        self.local.observe(now, headers, rejected=rejected)
        limits = parse_rate_limit_headers(headers) if headers is not None else HeaderLimits()
        answer = _Answer.of(limits)
        self._last_limit = answer.limit or self._last_limit
        if rejected and answer.remaining is None and answer.daily_remaining is None:
            answer.remaining = 0  # a 429 without usable headers: nobody sends again in this window
        try:
            if answer.window is None or answer.window == window:
                self._fold(window, answer, release=True, now=now)
            else:  # counted by Exact in another minute than the one it was granted in
                self._fold(window, _Answer(None, None, None, None, None), release=True, now=now)
                self._fold(answer.window, answer, release=False, now=now)
            self._note_daily(answer, now)
        except _Unavailable as exc:
            self._degrade(now, exc)

    def snapshot(self, now: float) -> RateLimitSnapshot:
        """This process's view of the headers (every answer reports Exact's count of all callers)."""
        return self.local.snapshot(now)

    # --- granting -----------------------------------------------------------------------------------------------
    def _reserve(self, window: int, now: float) -> tuple[bool, dict[str, Any], bool]:
        """One conditional update: (granted, the item as it was, whether this call created it). A window item this
        process has seen takes the short update; the first touch of a window may create the item."""
        known = self._known.get(window)
        request = self._granting(window) if known is not None and "avail" in known else self._creating(window, now)
        for _ in range(2):
            try:
                answer = self._client.update_item(
                    **request, ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD"
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    item = dict(getattr(exc, "response", {}).get("Item") or {})
                    if "avail" not in item:  # gone (TTL) or never there: create it
                        request = self._creating(window, now)
                        continue
                    self._remember(window, item)
                    return False, item, False
                if is_aws_failure(exc):
                    raise _Unavailable(exc) from exc
                raise
            old = dict(answer.get("Attributes") or {})
            created = "avail" not in old
            self._remember(window, old if not created else {"avail": _n(0)})
            return True, old, created
        return False, {}, False  # pragma: no cover - an item created and deleted between two calls

    def _granting(self, window: int) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": self._key(f"minute#{window}"),
            "UpdateExpression": "SET avail = avail - :one, davail = davail - :one, inf = inf + :one",
            "ConditionExpression": "avail > :zero AND davail > :zero",
            "ExpressionAttributeValues": {":zero": _n(0), ":one": _n(1)},
        }

    def _creating(self, window: int, now: float) -> dict[str, Any]:
        seen = self.local.snapshot(now)
        limit = seen.minutely_limit
        daily = seen.daily_remaining if seen.daily_remaining is not None and seen.daily_reset is not None else None
        values: dict[str, Any] = {
            ":zero": _n(0),
            ":one": _n(1),
            # An unknown limit: one call goes out to learn it (and ``rem`` waits for its answer).
            ":avail0": _n(limit if limit is not None else 1),
            ":rem0": _n(limit if limit is not None else UNKNOWN),
            ":drem0": _n(daily if daily is not None else UNKNOWN),
            ":exp": _n((window + 1) * MINUTE + MINUTE_ITEM_TTL),
        }
        sets = [
            "avail = if_not_exists(avail, :avail0) - :one",
            "davail = if_not_exists(davail, :drem0) - :one",
            "inf = if_not_exists(inf, :zero) + :one",
            "rem = if_not_exists(rem, :rem0)",
            "drem = if_not_exists(drem, :drem0)",
            "expires_at = if_not_exists(expires_at, :exp)",
        ]
        if limit is not None:
            sets.append("lim = if_not_exists(lim, :lim)")
            values[":lim"] = _n(limit)
        return {
            "TableName": self.table,
            "Key": self._key(f"minute#{window}"),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "attribute_not_exists(avail) OR (avail > :zero AND davail > :zero)",
            "ExpressionAttributeValues": values,
        }

    def _wait_for(self, item: Mapping[str, Any], window: int, now: float, server_now: float) -> float:
        """How long to wait after a refused grant (or raise when the day is spent)."""
        drem, davail, inf = _num(item, "drem"), _num(item, "davail"), _num(item, "inf") or 0
        if davail is not None and davail <= 0 and drem is not None and drem < UNKNOWN:
            if drem <= 0:
                day_end = (math.floor(server_now / DAY) + 1) * DAY
                raise DailyRateLimitExceeded(
                    f"daily rate limit of {_num(item, 'dlim') or 'its'} calls spent (shared budget {self.partition})",
                    reset_at=self.local.clock.to_local(day_end, now),
                    context={"rate_limits": self.local.snapshot(now).as_dict()},
                )
            if inf:
                return PROBE_WAIT  # the last calls of the day are out: their answers will tell
        if _num(item, "lim") is None:
            return PROBE_WAIT  # the window's first call is out to learn the limit
        return self.local.clock.to_local((window + 1) * MINUTE, now) - now

    def _refuse_if_day_spent(self, now: float, server_now: float) -> None:
        """This process already saw the day spent: say so without asking DynamoDB."""
        seen = self.local.snapshot(now)
        if seen.daily_remaining is not None and seen.daily_remaining <= 0 and seen.daily_reset is not None:
            raise DailyRateLimitExceeded(
                f"daily rate limit of {seen.daily_limit} calls spent",
                reset_at=seen.daily_reset,
                context={"rate_limits": seen.as_dict()},
            )

    # --- answers ------------------------------------------------------------------------------------------------
    def _take_reservation(self, headers: Mapping[str, str] | None) -> int | None:
        """The window of the reservation this answer returns (the answer's own window if one is out there; else the
        oldest); None when the call was granted by the local budget."""
        shared = [w for w, n in self._outstanding.items() if w is not None and n > 0]
        if not shared:
            if self._outstanding.get(None):
                self._release_slot(None)
            return None
        window = None
        if headers is not None:
            answer_window = _Answer.of(parse_rate_limit_headers(headers)).window
            if answer_window in shared:
                window = answer_window
        chosen = window if window is not None else min(shared)
        self._release_slot(chosen)
        return chosen

    def _release_slot(self, window: int | None) -> None:
        left = self._outstanding.get(window, 0) - 1
        if left > 0:
            self._outstanding[window] = left
        else:
            self._outstanding.pop(window, None)

    def _fold(self, window: int, answer: _Answer, *, release: bool, now: float) -> None:
        """Return a grant (``release``) and fold the answer's counts into the window's item: the lower remaining
        wins. DynamoDB cannot take a minimum, so the branch is chosen from the last state seen and checked by the
        condition; a failed check returns the item as it is, and the fold is tried again from there."""
        if not release and answer.remaining is None and answer.daily_remaining is None:
            return
        item = self._known.get(window)
        for _ in range(FOLD_ATTEMPTS):
            request = self._fold_request(window, answer, release, item)
            if request is None:
                return
            try:
                result = self._client.update_item(**request, ReturnValues="ALL_NEW")
            except Exception as exc:
                if is_conditional_failure(exc):
                    item = dict(getattr(exc, "response", {}).get("Item") or {})
                    continue
                if is_aws_failure(exc):
                    raise _Unavailable(exc) from exc
                raise
            self._remember(window, dict(result.get("Attributes") or {}))
            return
        log.debug("gave up folding an answer into %s minute %s after %d tries", self.partition, window, FOLD_ATTEMPTS)

    def _fold_request(
        self, window: int, answer: _Answer, release: bool, item: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        key = self._key(f"minute#{window}")
        values: dict[str, Any] = {}
        if item is not None and "avail" not in item:  # no such window item (yet): the answer creates it
            if answer.remaining is None:
                return None
            values = {
                ":r": _n(answer.remaining),
                ":dr": _n(answer.daily_remaining if answer.daily_remaining is not None else UNKNOWN),
                ":zero": _n(0),
                ":exp": _n((window + 1) * MINUTE + MINUTE_ITEM_TTL),
            }
            sets = ["rem = :r", "avail = :r", "drem = :dr", "davail = :dr", "inf = :zero", "expires_at = :exp"]
            self._limits_into(answer, sets, values)
            return {
                "TableName": self.table,
                "Key": key,
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "attribute_not_exists(avail)",
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        offset = 1 if release else 0
        sets = []
        conditions = ["attribute_exists(avail)"]
        if release:
            sets.append("inf = inf - :off")
            values[":off"] = _n(1)
        daily = answer.daily_remaining
        known_daily = _num(item, "drem") if item is not None else None
        if daily is not None and known_daily is not None and known_daily < UNKNOWN and daily > self._low_water(answer):
            daily = None  # plenty of the day left: the window's seed will do (one clause less on every answer)
        for mine, count, left, attr in (
            (answer.remaining, "rem", "avail", ":r"),
            (daily, "drem", "davail", ":dr"),
        ):
            known = _num(item, count) if item is not None else None
            if mine is not None and (known is None or mine < known):
                # This answer is the lowest count so far: it says what is left, minus the calls still out.
                sets += [f"{count} = {attr}", f"{left} = {attr}off - inf"]
                conditions.append(f"{count} > {attr}")
                values[attr] = _n(mine)
                values[f"{attr}off"] = _n(mine + offset)
            else:
                if release:
                    sets.append(f"{left} = {left} + :off")
                if mine is not None:
                    conditions.append(f"{count} <= {attr}")
                    values[attr] = _n(mine)
        if item is None or _num(item, "lim") != answer.limit or _num(item, "dlim") != answer.daily_limit:
            self._limits_into(answer, sets, values)
        if not sets:
            return None
        return {
            "TableName": self.table,
            "Key": key,
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    @staticmethod
    def _limits_into(answer: _Answer, sets: list[str], values: dict[str, Any]) -> None:
        if answer.limit is not None:
            sets.append("lim = :lim")
            values[":lim"] = _n(answer.limit)
        if answer.daily_limit is not None:
            sets.append("dlim = :dlim")
            values[":dlim"] = _n(answer.daily_limit)

    def _remember(self, window: int, item: dict[str, Any]) -> None:
        with self._lock:
            self._known[window] = item
            for old in [w for w in self._known if w < window - 2]:
                del self._known[old]

    # --- the daily item -----------------------------------------------------------------------------------------
    def _day_key(self, now: float) -> dict[str, Any]:
        return self._key(f"day#{math.floor(self.local.clock.server_now(now) / DAY)}")

    def _note_daily(self, answer: _Answer, now: float) -> None:
        """Keep the day's lowest remaining in the daily item: every ~50 calls, and every call near the end."""
        left = answer.daily_remaining
        if left is None:
            return
        written = self._daily_written
        if written is not None and left > written - DAILY_STEP and left > self._low_water(answer):
            return
        day = math.floor(self.local.clock.server_now(now) / DAY)
        try:
            self._client.update_item(
                TableName=self.table,
                Key=self._day_key(now),
                UpdateExpression="SET drem = :dr, expires_at = :exp",
                ConditionExpression="attribute_not_exists(drem) OR drem > :dr",
                ExpressionAttributeValues={":dr": _n(left), ":exp": _n((day + 1) * DAY + DAY_ITEM_TTL)},
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                if is_aws_failure(exc):
                    raise _Unavailable(exc) from exc
                raise
        self._daily_written = left

    def _low_water(self, answer: _Answer) -> int:
        """Daily calls left below which every answer updates the day's count (two minutes' worth)."""
        return 2 * (answer.limit or self._last_limit or 60)

    def _seed_daily(self, window: int, now: float) -> None:
        """The first writer of a window brings the day's count in from the daily item."""
        try:
            found = self._client.get_item(
                TableName=self.table, Key=self._day_key(now), ConsistentRead=True, ProjectionExpression="drem"
            ).get("Item")
            left = _num(found or {}, "drem")
            if left is not None:
                self._fold(window, _Answer(window, None, None, left, None), release=False, now=now)
        except _Unavailable as exc:
            self._degrade(now, exc)
        except Exception as exc:
            if not is_aws_failure(exc):
                raise
            self._degrade(now, _Unavailable(exc))

    # --- falling back -------------------------------------------------------------------------------------------
    def _degraded(self, now: float) -> bool:
        until = self._degraded_until
        if until is None:
            return False
        if now < until:
            return True
        with self._lock:
            if self._degraded_until is not None and now >= self._degraded_until:
                self._degraded_until = None  # try the table again (quietly: the warning was said)
        return False

    def _recovered(self) -> None:
        if self._outage:
            with self._lock:
                was, self._outage = self._outage, False
            if was:
                log.info("shared rate budget %s: DynamoDB table %s answers again", self.partition, self.table)

    def _degrade(self, now: float, exc: _Unavailable) -> None:
        cause = exc.__cause__ or exc
        with self._lock:
            first = not self._outage
            self._outage = True
            self.fallbacks += 1
            self._degraded_until = now + self.fallback_seconds
        if first:
            log.warning(
                "shared rate budget %s unavailable (DynamoDB table %s: %s); pacing on this process's own view of "
                "the limits for %.0f s",
                self.partition,
                self.table,
                type(cause).__name__,
                self.fallback_seconds,
            )

    def _acquire_locally(self, now: float) -> float:
        wait = self.local.acquire(now)
        if wait <= 0:
            with self._lock:
                self._outstanding[None] = self._outstanding.get(None, 0) + 1
        return wait

    def _key(self, sort: str) -> dict[str, Any]:
        return {"pk": {"S": self.partition}, "sk": {"S": sort}}


class _Budgets:
    """A :data:`BudgetProvider` that keeps one :class:`DynamoDbRateBudget` per key in this process."""

    def __init__(self, table: str, client: DynamoDBClient | None, region_name: str | None, endpoint_url: str | None):
        self.table = table
        self._client = client
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._budgets: dict[BudgetKey, DynamoDbRateBudget] = {}
        self._lock = threading.Lock()

    def __call__(self, key: BudgetKey) -> RateBudgetBackend:
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                if self._client is None:
                    self._client = make_dynamodb_client(self._region_name, endpoint_url=self._endpoint_url)
                budget = self._budgets[key] = DynamoDbRateBudget(key, self.table, client=self._client)
            return budget

    def budgets(self) -> list[DynamoDbRateBudget]:
        """The budgets made so far (for inspection: ``fallbacks``, snapshots)."""
        with self._lock:
            return list(self._budgets.values())

    def __repr__(self) -> str:
        return f"coordinated_budgets(table={self.table!r})"


_providers: dict[tuple[str, str | None, str | None], _Budgets] = {}
_providers_lock = threading.Lock()


def coordinated_budgets(
    table: str,
    *,
    client: DynamoDBClient | None = None,
    region_name: str | None = None,
    endpoint_url: str | None = None,
) -> BudgetProvider:
    """The shared budgets kept in ``table`` (the stack's coordination table, ``EXACT_COORDINATION_TABLE``): pass it
    as ``budgets=`` to a client. One provider per table in the process (unless you pass your own ``client``), so
    every client of the process shares its budgets, as the in-process ones are shared."""
    if client is not None:
        return _Budgets(table, client, region_name, endpoint_url)
    with _providers_lock:
        provider = _providers.get((table, region_name, endpoint_url))
        if provider is None:
            provider = _providers[(table, region_name, endpoint_url)] = _Budgets(table, None, region_name, endpoint_url)
        return provider


def use_coordinated_budgets(table: str | None, **kwargs: Any) -> None:
    """Make every client of this process that has no ``budget``/``budgets`` of its own use the shared budgets in
    ``table`` (None restores the in-process budgets). Call it once at start-up; clients made before keep theirs."""
    set_budget_factory(coordinated_budgets(table, **kwargs) if table else None)
