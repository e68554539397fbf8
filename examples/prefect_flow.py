"""Prefect on ECS: sync every (connection, division, endpoint) of Exact Online into S3, as many workers at once.

``sync_all`` plans one unit per (connection, division, endpoint) and runs them as parallel Prefect tasks, at most
``concurrency`` at a time. Each unit (:func:`exact_online_sdk.scale.sync_to_s3`) takes the unit's lease in the
stack's DynamoDB coordination table (so overlapping flow runs, or several ECS tasks, never run one unit twice),
syncs from its durable cursor, lands the rows in S3 (gzip JSON lines and a manifest per run, see docs/scale.md) and
moves the cursor after each landed batch. Every Exact call draws from the rate budget shared through DynamoDB by all
workers of the app, so any number of tasks together stay inside Exact's 60 calls a minute per division.

The token is read (never refreshed) from the Secrets Manager slots the stack's refresher keeps fresh.

Environment of the worker (the stack's outputs):

    EXACT_CONNECTIONS                             the connections to sync (the stack's ConnectionSlots output:
                                                  name -> its token slots), as the refresher reads them
    EXACT_CONNECTION_PREFIX                       the ConnectionSecretPrefix output (connections listed without slots)
    EXACT_TOKEN_SECRET_A / EXACT_TOKEN_SECRET_B   a single-connection stack: its slots (the connection "default")
    EXACT_COORDINATION_TABLE                      the coordination table (rate budget, cursors, leases)
    EXACT_BASE_URL                                the regional host (default https://start.exactonline.nl)
    EXACT_CLIENT_ID                               the app's client id (its rate budget; a connection's own
                                                  ``client_id`` in EXACT_CONNECTIONS wins)
    LANDING_BUCKET                                the bucket rows land in (or the ``bucket`` parameter)

Every connection of the environment is synced (:func:`worker_connections`: the refresher's own reading of
``EXACT_CONNECTIONS``, :func:`exact_online_sdk.aws.connections.connection_configs`), each with its own slots, host and
app id; adding a connection to the stack is a deploy, and the next flow run syncs it. The ``connections`` parameter
still names them by hand: name -> the name prefix of its token slots (``{prefix}-a``/``{prefix}-b``; ``""``: the
environment's EXACT_TOKEN_SECRET_A/_B). A unit that fails (after its task's retries) leaves its cursor at the last
landed batch; the other units still run, and the flow run ends Failed naming the failed units.

For the ECS work pool, the image holds this file at ``examples/prefect_flow.py`` under its working directory (the
deployment's entrypoint) and ``pip install "exact-online-toolkit[aws]" prefect prefect-aws``.

    python examples/prefect_flow.py                        # one run, here
    python examples/prefect_flow.py deploy IMAGE           # register the ECS deployment (see ``deployment``)

``export_all`` (one endpoint read in every division) is kept from the earlier version of this example.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture

from exact_online_sdk.aws.connections import DEFAULT_CONNECTION, connection_configs
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.config import Settings
from exact_online_sdk.exceptions import ConfigError

DEFAULT_ENDPOINTS = ["sync/CRM/Accounts", "sync/Financial/TransactionLines"]
DEFAULT_CONNECTIONS: dict[str, str] = {DEFAULT_CONNECTION: ""}
"""The single-connection stack by hand (connection name -> token slot name prefix; "" means EXACT_TOKEN_SECRET_A/_B
of the environment). Without a ``connections`` parameter the flow syncs every connection of the environment."""


@dataclass(frozen=True)
class Connection:
    """One Exact connection as a worker reads it: its token slots and, where it has its own, its host and app id."""

    name: str
    slots: tuple[str, str]
    base_url: str | None = None
    client_id: str | None = None


def worker_connections(connections: dict[str, str] | None = None) -> list[Connection]:
    """The connections to sync: every connection of the environment, read as the refresher reads it
    (``EXACT_CONNECTIONS`` with ``EXACT_CONNECTION_PREFIX``, or the one connection of ``EXACT_TOKEN_SECRET_A``/``_B``);
    or, when given, ``connections`` (name -> slot name prefix, "" for the environment's single-connection slots)."""
    settings = Settings()
    if connections is None:
        configs = connection_configs(settings)
        if not configs:
            raise ConfigError(
                "no connection to sync: set EXACT_CONNECTIONS (the stack's ConnectionSlots output) or "
                "EXACT_TOKEN_SECRET_A/_B",
                variable="EXACT_CONNECTIONS",
            )
        # A connection without its own app id is of the stack's app (EXACT_CLIENT_ID), as for the refresher.
        return [Connection(name, c.slots, c.base_url, c.client_id or settings.client_id) for name, c in configs.items()]
    chosen = []
    for name, prefix in connections.items():
        if prefix:
            chosen.append(Connection(name, (f"{prefix}-a", f"{prefix}-b"), client_id=settings.client_id))
            continue
        default = connection_configs(settings.model_copy(update={"connections": None}))
        if not default:
            raise ConfigError(
                f"connection {name!r}: no slot prefix given and no EXACT_TOKEN_SECRET_A/_B set",
                variable="EXACT_TOKEN_SECRET_A",
            )
        chosen.append(Connection(name, next(iter(default.values())).slots, client_id=settings.client_id))
    return chosen


def plan_units(
    connections: Iterable[Connection],
    endpoints: Iterable[str],
    divisions_of: Callable[[Connection], Iterable[int]],
) -> list[tuple[Connection, int, str]]:
    """Every (connection, division, endpoint) to sync, connection by connection (``divisions_of``: its divisions)."""
    wanted = list(endpoints)
    return [(c, division, endpoint) for c in connections for division in divisions_of(c) for endpoint in wanted]


def worker_client(secret: str = "", *, connection: Connection | None = None) -> ExactOnlineClient:
    """The one line a worker needs: the token from the slots (never refreshed here); with
    EXACT_COORDINATION_TABLE set, the rate budgets are shared with every other worker of the app.
    ``connection``: its slots, host and app id (the budget is per app); else ``secret`` (a slot name prefix, ""
    for EXACT_TOKEN_SECRET_A/_B)."""
    base_url = os.environ.get("EXACT_BASE_URL") or None
    if connection is None:
        return ExactOnlineClient.from_secrets_manager(secret or None, base_url=base_url)
    options: dict[str, Any] = {"base_url": connection.base_url or base_url}
    if connection.client_id:
        options["client_id"] = connection.client_id
    return ExactOnlineClient.from_secrets_manager(slots=connection.slots, **options)


@task(retries=2, retry_delay_seconds=30)
def list_divisions(secret: str = "", connection: Connection | None = None) -> list[int]:
    """The divisions the connection's user may read."""
    with worker_client(secret, connection=connection) as client:
        me = client.get("current/Me")[0]
        rows = client.iter_rows("system/Divisions", {"$select": "Code"}, division=int(me["CurrentDivision"]))
        return sorted(int(row["Code"]) for row in rows)


@task(retries=2, retry_delay_seconds=30, tags=["exact-online"])
def sync_unit(
    connection: Connection, division: int, endpoint: str, bucket: str, table: str, prefix: str = "exact-online"
) -> dict[str, Any]:
    """One (connection, division, endpoint): from its durable cursor into S3. A unit another worker holds comes
    back with ``status="busy"`` (it is being done); a failure leaves the cursor at the last landed batch."""
    from exact_online_sdk.scale import DynamoDbCursorStore, S3Sink, sync_to_s3

    with worker_client(connection=connection) as client:
        cursors = DynamoDbCursorStore(table, connection=connection.name)
        sink = S3Sink(bucket, prefix=prefix)
        return sync_to_s3(client, cursors=cursors, sink=sink, division=division, endpoint=endpoint).as_dict()


def _bounded(futures: Iterable[PrefectFuture[Any]], limit: int) -> list[PrefectFuture[Any]]:
    """Keep at most ``limit`` futures running: wait for the oldest before letting the next one start."""
    started: list[PrefectFuture[Any]] = []
    running: list[PrefectFuture[Any]] = []
    for future in futures:
        started.append(future)
        running.append(future)
        while len(running) >= limit:
            running.pop(0).wait()
            running = [f for f in running if not (f.state and f.state.is_final())]
    return started


@flow(name="exact-sync-to-s3")
def sync_all(
    endpoints: list[str] | None = None,
    connections: dict[str, str] | None = None,
    divisions: list[int] | None = None,
    bucket: str | None = None,
    table: str | None = None,
    prefix: str = "exact-online",
    concurrency: int = 4,
) -> list[dict[str, Any]]:
    """Sync every (connection, division, endpoint) into S3, ``concurrency`` units at a time in this flow run
    (``connections`` None: every connection of the environment, :func:`worker_connections`; ``divisions`` None:
    every division each connection may read)."""
    logger = get_run_logger()
    bucket = bucket or os.environ.get("LANDING_BUCKET")
    table = table or Settings().coordination_table
    if not bucket or not table:
        raise ValueError("a landing bucket (LANDING_BUCKET) and EXACT_COORDINATION_TABLE are needed")
    units = plan_units(
        worker_connections(connections),
        endpoints or DEFAULT_ENDPOINTS,
        lambda connection: divisions or list_divisions(connection=connection),
    )

    def submitted() -> Iterable[PrefectFuture[Any]]:
        for connection, division, endpoint in units:
            yield sync_unit.submit(connection, division, endpoint, bucket, table, prefix)

    futures = _bounded(submitted(), max(1, concurrency))
    results, failed = [], []
    for (connection, division, endpoint), future in zip(units, futures, strict=True):
        future.wait()
        unit = f"{connection.name}/{division}/{endpoint}"
        if future.state is None or not future.state.is_completed():
            failed.append(unit)  # every unit has had its turn before the run is failed
            logger.error("%s failed: %s", unit, future.state.message if future.state else "no state")
            continue
        r = future.result()
        results.append(r)
        logger.info("%s: %s, %d rows, %d deletions", unit, r["status"], r["rows"], r["deletions"])
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(units)} units failed: {', '.join(failed)}")
    return results


def deployment(
    image: str,
    *,
    task_role_arn: str | None = None,
    work_pool: str = "exact-online-ecs",
    cron: str = "*/15 * * * *",
    **parameters: Any,
) -> Any:
    """The ECS deployment of :func:`sync_all` (``prefect_aws`` ECS work pool).

    ``task_role_arn`` (default ``EXACT_WORKER_ROLE_ARN``): your task role with the stack's worker policy
    (``WorkerPolicyArn`` output) attached; that policy reads the token slots (never writes them) and grants the
    coordination table's ``budget#``/``cursor#`` items and the landing bucket's prefix (docs/scale.md lists the
    exact grant). The stack outputs in this process's environment go in as the job's environment; one flow run at
    a time per deployment (units a previous run still holds would only come back busy)."""
    role = task_role_arn or os.environ.get("EXACT_WORKER_ROLE_ARN")
    if not role:
        raise ValueError("the ECS task role is needed: task_role_arn= or EXACT_WORKER_ROLE_ARN")
    env = {
        name: os.environ[name]
        for name in (
            "EXACT_CONNECTIONS",
            "EXACT_CONNECTION_PREFIX",
            "EXACT_TOKEN_SECRET_A",
            "EXACT_TOKEN_SECRET_B",
            "EXACT_CLIENT_ID",
            "EXACT_COORDINATION_TABLE",
            "EXACT_BASE_URL",
            "LANDING_BUCKET",
            "AWS_REGION",
        )
        if os.environ.get(name)
    }
    job_variables = {
        "image": image,
        "cpu": 512,
        "memory": 1024,
        "task_role_arn": role,
        "env": env,
    }
    if os.environ.get("ECS_CLUSTER"):
        job_variables["cluster"] = os.environ["ECS_CLUSTER"]
    return sync_all.to_deployment(
        name="exact-sync-to-s3",
        work_pool_name=work_pool,
        job_variables=job_variables,
        cron=cron,
        concurrency_limit=1,
        parameters=parameters,
        tags=["exact-online"],
        description="Exact Online -> S3 landing zone, every connection, division and endpoint",
    )


# --- kept from the first version of this example: one endpoint read in every division ------------------------------


@task(retries=2, retry_delay_seconds=30)
def export_endpoint(path: str, division: int, select: str = "ID") -> dict[str, Any]:
    """Page through ``path`` in ``division`` (following ``__next``); returns counts and the first keys."""
    pages = rows = 0
    first: list[str] = []
    with worker_client() as client:
        for page in client.iter_pages(path, {"$select": select}, division=division):
            pages += 1
            rows += len(page.rows)
            first.extend(str(r.get("ID")) for r in page.rows[: max(0, 3 - len(first))])
    return {"division": division, "path": path, "pages": pages, "rows": rows, "first_ids": first}


@flow(name="exact-export")
def export_all(path: str = "crm/Accounts", select: str = "ID") -> list[dict[str, Any]]:
    """Export ``path`` from every division, one task per division."""
    divisions = list_divisions()
    results = [export_endpoint(path, d, select) for d in divisions]
    logger = get_run_logger()
    for r in results:
        logger.info("%s in division %s: %d rows in %d pages", r["path"], r["division"], r["rows"], r["pages"])
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["deploy"]:
        from prefect import deploy

        deploy(deployment(sys.argv[2]), work_pool_name="exact-online-ecs", image=sys.argv[2], build=False, push=False)
    else:
        sync_all()
