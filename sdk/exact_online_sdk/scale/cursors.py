"""Durable sync cursors for many workers: one DynamoDB item per (connection, division, endpoint), behind a lease.

The incremental-sync engine (:mod:`exact_online_sdk.sync`) keeps, per (division, stream), the highest ``Timestamp``
the consumer accepted, and saves it only after the consumer took the batch (at-least-once). On one machine a file
does; across ECS tasks and Lambda handlers the cursor must live where every worker sees it, and two workers must
never run the same cursor at once (both would deliver the same rows and race each other's saves).

:class:`DynamoDbCursorStore` keeps one item per unit of work in the stack's coordination table::

    pk = cursor#<connection>          sk = <division>#<endpoint>       (one Query lists a connection's cursors)
    changes     the endpoint's cursor          deletions   its cursor in sync/Deleted (per endpoint, see below)
    lease_owner, lease_expires, lease_gen      who runs it, until when, and a fencing generation
    open_run    the landing run in progress (see :mod:`exact_online_sdk.scale.sink`)

:meth:`DynamoDbCursorStore.lease` takes the unit by a conditional write (free, or its lease expired: a crashed
holder's lease runs out after ``lease_seconds``) and raises :class:`CursorLeaseHeld` otherwise. The returned
:class:`CursorLease` is the engine's cursor store for that unit: every save is conditional on still holding the
lease *generation* (a holder that stalled past its lease and was replaced gets :class:`CursorLeaseLost` instead of
moving the cursor under the new holder's feet), renews the lease, and never moves a cursor backwards.

``sync/Deleted`` is one stream per division at Exact, but each endpoint's unit keeps its own cursor in it: units of
one division run in parallel, and a shared deletions cursor moved by one unit would skip deletions another unit has
not delivered yet.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..exceptions import ExactOnlineError
from ..sync import DELETED_STREAM, SyncError
from ._aws import is_aws_failure, is_conditional_failure, make_dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "CursorLease",
    "CursorLeaseHeld",
    "CursorLeaseLost",
    "CursorState",
    "CursorStoreError",
    "DynamoDbCursorStore",
]

DEFAULT_LEASE_SECONDS = 600.0
"""Long enough for a page, its landing and a full rate-limit wait between two saves (each save renews it); short
enough that a crashed worker's unit is picked up again within ten minutes."""


class CursorStoreError(ExactOnlineError):
    """The cursor table could not be read or written (DynamoDB unavailable, no permission, no table)."""

    hint = "check EXACT_COORDINATION_TABLE and that the worker's role may use it (see docs/scale.md)"


class CursorLeaseHeld(CursorStoreError):
    """Another worker runs this cursor now; ``holder`` and ``until`` (epoch seconds) say who and how long."""

    hint = "another worker is syncing this unit: skip it, it will be done"

    def __init__(self, message: str, *, holder: str | None = None, until: float | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.until = until


class CursorLeaseLost(CursorStoreError):
    """The lease expired and another worker took the cursor: this worker must stop (its last batch is redelivered)."""

    hint = "a save came after the lease ran out: raise lease_seconds if single batches take that long"


@dataclass(frozen=True, slots=True)
class CursorState:
    """One unit's item as stored."""

    connection: str
    division: int
    endpoint: str
    changes: int | None
    deletions: int | None
    holder: str | None
    lease_expires: float | None
    open_run: str | None


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(float(value), 3)) if not float(value).is_integer() else str(int(value))}


def _num(item: dict[str, Any], name: str) -> float | None:
    cell = item.get(name)
    return float(cell["N"]) if isinstance(cell, dict) and "N" in cell else None


def _str(item: dict[str, Any], name: str) -> str | None:
    cell = item.get(name)
    return str(cell["S"]) if isinstance(cell, dict) and "S" in cell else None


class DynamoDbCursorStore:
    """The sync cursors of one Exact ``connection`` in the coordination table (see the module docs)."""

    def __init__(
        self,
        table: str,
        *,
        connection: str = "default",
        client: DynamoDBClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if not connection or "#" in connection:
            raise ValueError("connection must be a non-empty name without '#'")
        self.table = table
        self.connection = connection
        self.clock: Clock = clock or SystemClock()
        self.lease_seconds = lease_seconds
        self._client = client or make_dynamodb_client(region_name, endpoint_url=endpoint_url, attempts=3)

    def __repr__(self) -> str:
        return f"DynamoDbCursorStore(table={self.table!r}, connection={self.connection!r})"

    @property
    def partition(self) -> str:
        return f"cursor#{self.connection}"

    def key(self, division: int, endpoint: str) -> dict[str, Any]:
        return {"pk": _s(self.partition), "sk": _s(f"{int(division)}#{endpoint.strip('/')}")}

    def lease(self, division: int, endpoint: str, *, owner: str | None = None) -> CursorLease:
        """Take the unit (free, or its holder's lease ran out) or raise :class:`CursorLeaseHeld`."""
        endpoint = endpoint.strip("/")
        owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        now = self.clock.now()
        try:
            answer = self._client.update_item(
                TableName=self.table,
                Key=self.key(division, endpoint),
                UpdateExpression=(
                    "SET lease_owner = :me, lease_expires = :until, lease_gen = if_not_exists(lease_gen, :zero) + :one,"
                    " #c = :c, #d = :d, #e = :e"
                ),
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_expires <= :now",
                ExpressionAttributeNames={"#c": "connection", "#d": "division", "#e": "endpoint"},
                ExpressionAttributeValues={
                    ":me": _s(owner),
                    ":until": _n(now + self.lease_seconds),
                    ":now": _n(now),
                    ":zero": _n(0),
                    ":one": _n(1),
                    ":c": _s(self.connection),
                    ":d": _n(division),
                    ":e": _s(endpoint),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                held = dict(getattr(exc, "response", {}).get("Item") or {})
                holder, until = _str(held, "lease_owner"), _num(held, "lease_expires")
                raise CursorLeaseHeld(
                    f"{self.connection}/{division}/{endpoint} is being synced by {holder} until {until}",
                    holder=holder,
                    until=until,
                ) from None
            raise self._failure(exc, "take the lease of", division, endpoint) from exc
        item = dict(answer.get("Attributes") or {})
        return CursorLease(self, int(division), endpoint, owner, int(_num(item, "lease_gen") or 0), item)

    def state(self, division: int, endpoint: str) -> CursorState | None:
        """The unit's item as stored (None before its first lease)."""
        try:
            found = self._client.get_item(
                TableName=self.table, Key=self.key(division, endpoint), ConsistentRead=True
            ).get("Item")
        except Exception as exc:
            raise self._failure(exc, "read", division, endpoint) from exc
        return None if not found else self._state(dict(found))

    def states(self) -> list[CursorState]:
        """Every unit of this connection (one Query, paged)."""
        states: list[CursorState] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(self.partition)},
            "ConsistentRead": True,
        }
        try:
            while True:
                page = self._client.query(**request)
                states.extend(self._state(dict(item)) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return states
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as exc:
            raise self._failure(exc, "list", None, None) from exc

    def _state(self, item: dict[str, Any]) -> CursorState:
        division, _, endpoint = (_str(item, "sk") or "").partition("#")
        changes, deletions = _num(item, "changes"), _num(item, "deletions")
        return CursorState(
            self.connection,
            int(division),
            endpoint,
            None if changes is None else int(changes),
            None if deletions is None else int(deletions),
            _str(item, "lease_owner"),
            _num(item, "lease_expires"),
            _str(item, "open_run"),
        )

    def _failure(self, exc: Exception, what: str, division: int | None, endpoint: str | None) -> Exception:
        if not is_aws_failure(exc):
            return exc
        unit = f"{self.connection}/{division}/{endpoint}" if division is not None else self.connection
        return CursorStoreError(f"could not {what} the cursor {unit} in DynamoDB table {self.table}: {exc}")


class CursorLease:
    """A held unit: the cursor store the sync engine saves through, for one (division, endpoint).

    Use it as a context manager (the lease is given back on exit, so the next worker need not wait for it to run
    out). ``open_run`` is the landing run a crashed holder left unfinished, if any.
    """

    def __init__(
        self,
        store: DynamoDbCursorStore,
        division: int,
        endpoint: str,
        owner: str,
        generation: int,
        item: dict[str, Any],
    ) -> None:
        self.store = store
        self.division = division
        self.endpoint = endpoint
        self.owner = owner
        self.generation = generation
        self._cursors: dict[str, int | None] = {
            "changes": None if _num(item, "changes") is None else int(_num(item, "changes") or 0),
            "deletions": None if _num(item, "deletions") is None else int(_num(item, "deletions") or 0),
        }
        self.open_run: str | None = _str(item, "open_run")
        self.released = False

    def __repr__(self) -> str:
        return (
            f"CursorLease({self.store.connection}/{self.division}/{self.endpoint}, owner={self.owner!r},"
            f" generation={self.generation})"
        )

    # --- the engine's CursorStore -------------------------------------------------------------------------------
    def _attribute(self, division: int, stream: str) -> str:
        if int(division) != self.division:
            raise SyncError(f"this lease covers division {self.division}, not {division}")
        stream = stream.strip("/")
        if stream == self.endpoint:
            return "changes"
        if stream == DELETED_STREAM:
            return "deletions"
        raise SyncError(f"this lease covers {self.endpoint} (and its deletions), not {stream}")

    def load(self, division: int, stream: str) -> int | None:
        """The cursor as it was when the lease was taken, or as this holder last saved it."""
        return self._cursors[self._attribute(division, stream)]

    def save(self, division: int, stream: str, timestamp: int) -> None:
        """Move the cursor (only forward, only while holding the lease) and renew the lease."""
        attribute = self._attribute(division, stream)
        self._write(
            f"SET {attribute} = :ts, lease_expires = :until, updated_at = :now",
            extra_condition=f"(attribute_not_exists({attribute}) OR {attribute} <= :ts)",
            values={":ts": _n(int(timestamp))},
            what="save",
        )
        self._cursors[attribute] = int(timestamp)

    # --- the lease ----------------------------------------------------------------------------------------------
    def renew(self) -> None:
        """Extend the lease by ``lease_seconds`` from now."""
        self._write("SET lease_expires = :until", what="renew")

    def begin_run(self, run_id: str) -> None:
        """Note the landing run now in progress (a crash leaves it for the next holder to recover)."""
        self._write("SET open_run = :run, lease_expires = :until", values={":run": _s(run_id)}, what="note a run in")
        self.open_run = run_id

    def end_run(self, run_id: str) -> None:
        """The run's manifest is written: nothing to recover any more."""
        self._write(
            "REMOVE open_run SET lease_expires = :until",
            extra_condition="open_run = :run",
            values={":run": _s(run_id)},
            what="close a run in",
        )
        self.open_run = None

    def release(self) -> None:
        """Give the unit back now (a lease lost meanwhile is not an error here)."""
        if self.released:
            return
        self.released = True
        with contextlib.suppress(CursorLeaseLost):
            self._write("REMOVE lease_owner, lease_expires", what="release", renew=False)

    def __enter__(self) -> CursorLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(
        self,
        update: str,
        *,
        what: str,
        extra_condition: str | None = None,
        values: dict[str, Any] | None = None,
        renew: bool = True,
    ) -> None:
        store = self.store
        now = store.clock.now()
        condition = "lease_gen = :gen AND lease_owner = :me"
        if extra_condition:
            condition += f" AND {extra_condition}"
        all_values: dict[str, Any] = {":gen": _n(self.generation), ":me": _s(self.owner), **(values or {})}
        if renew:
            all_values[":until"] = _n(now + store.lease_seconds)
        if "updated_at = :now" in update:
            all_values[":now"] = _n(now)
        try:
            store._client.update_item(
                TableName=store.table,
                Key=store.key(self.division, self.endpoint),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=all_values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise store._failure(exc, what, self.division, self.endpoint) from exc
            item = dict(getattr(exc, "response", {}).get("Item") or {})
            if _num(item, "lease_gen") == self.generation and _str(item, "lease_owner") == self.owner:
                raise SyncError(
                    f"refusing to {what} {store.connection}/{self.division}/{self.endpoint}: the stored cursor is "
                    "ahead of this one, or the run noted is another"
                ) from None
            raise CursorLeaseLost(
                f"lost the lease of {store.connection}/{self.division}/{self.endpoint} to "
                f"{_str(item, 'lease_owner')} (generation {_num(item, 'lease_gen')}); nothing was saved"
            ) from None
