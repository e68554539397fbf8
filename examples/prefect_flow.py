"""Prefect on ECS: sync every (connection, division, endpoint) of Exact Online into S3, as many workers at once.

``sync_all`` plans one unit per (connection, division, endpoint) and runs them as parallel Prefect tasks, at most
``concurrency`` at a time. Each unit (:func:`exact_online_sdk.scale.sync_to_s3`) takes the unit's lease in the
stack's DynamoDB coordination table (so overlapping flow runs, or several ECS tasks, never run one unit twice),
syncs from its durable cursor, lands the rows in S3 (gzip JSON lines and a manifest per run, see docs/scale.md) and
moves the cursor after each landed batch. Every Exact call draws from the rate budget shared through DynamoDB by all
workers of the app, so any number of tasks together stay inside Exact's 60 calls a minute per division.

The token is read (never refreshed) from the Secrets Manager slots the stack's refresher keeps fresh.

Environment of the worker (the stack's outputs):

    EXACT_TOKEN_SECRET_A / EXACT_TOKEN_SECRET_B   the token slots of the connection named "default"
    EXACT_COORDINATION_TABLE                      the coordination table (rate budget, cursors, leases)
    EXACT_BASE_URL                                the regional host (default https://start.exactonline.nl)
    LANDING_BUCKET                                the bucket rows land in (or the ``bucket`` parameter)

Other connections (more Exact users or apps) are named in the ``connections`` parameter: name -> the name prefix of
their token slots (``{prefix}-a``/``{prefix}-b``; on a stack with several connections ``<ConnectionSecretPrefix><name>
/token``). A unit that fails (after its task's retries) leaves its cursor at the last landed batch; the other units
still run, and the flow run ends Failed naming the failed units.

For the ECS work pool, the image holds this file at ``examples/prefect_flow.py`` under its working directory (the
deployment's entrypoint) and ``pip install "exact-online-toolkit[aws]" prefect prefect-aws``.

    python examples/prefect_flow.py                        # one run, here
    python examples/prefect_flow.py deploy IMAGE           # register the ECS deployment (see ``deployment``)

``export_all`` (one endpoint read in every division) is kept from the earlier version of this example.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture

from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.config import Settings

DEFAULT_ENDPOINTS = ["sync/CRM/Accounts", "sync/Financial/TransactionLines"]
DEFAULT_CONNECTIONS: dict[str, str] = {"default": ""}
"""Connection name -> token slot name prefix; "" means EXACT_TOKEN_SECRET_A/_B of the environment."""


def worker_client(secret: str = "") -> ExactOnlineClient:
    """The one line a worker needs: the token from the slots (never refreshed here); with
    EXACT_COORDINATION_TABLE set, the rate budgets are shared with every other worker."""
    return ExactOnlineClient.from_secrets_manager(secret or None, base_url=os.environ.get("EXACT_BASE_URL") or None)


@task(retries=2, retry_delay_seconds=30)
def list_divisions(secret: str = "") -> list[int]:
    """The divisions the connection's user may read."""
    with worker_client(secret) as client:
        me = client.get("current/Me")[0]
        rows = client.iter_rows("system/Divisions", {"$select": "Code"}, division=int(me["CurrentDivision"]))
        return sorted(int(row["Code"]) for row in rows)


@task(retries=2, retry_delay_seconds=30, tags=["exact-online"])
def sync_unit(
    connection: str, secret: str, division: int, endpoint: str, bucket: str, table: str, prefix: str = "exact-online"
) -> dict[str, Any]:
    """One (connection, division, endpoint): from its durable cursor into S3. A unit another worker holds comes
    back with ``status="busy"`` (it is being done); a failure leaves the cursor at the last landed batch."""
    from exact_online_sdk.scale import DynamoDbCursorStore, S3Sink, sync_to_s3

    with worker_client(secret) as client:
        cursors = DynamoDbCursorStore(table, connection=connection)
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
    (``divisions`` None: every division each connection may read)."""
    logger = get_run_logger()
    bucket = bucket or os.environ.get("LANDING_BUCKET")
    table = table or Settings().coordination_table
    if not bucket or not table:
        raise ValueError("a landing bucket (LANDING_BUCKET) and EXACT_COORDINATION_TABLE are needed")
    units = []
    for name, secret in (connections or DEFAULT_CONNECTIONS).items():
        for division in divisions or list_divisions(secret):
            units += [(name, secret, division, endpoint) for endpoint in endpoints or DEFAULT_ENDPOINTS]

    def submitted() -> Iterable[PrefectFuture[Any]]:
        for name, secret, division, endpoint in units:
            yield sync_unit.submit(name, secret, division, endpoint, bucket, table, prefix)

    futures = _bounded(submitted(), max(1, concurrency))
    results, failed = [], []
    for (name, _, division, endpoint), future in zip(units, futures, strict=True):
        future.wait()
        unit = f"{name}/{division}/{endpoint}"
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
            "EXACT_TOKEN_SECRET_A",
            "EXACT_TOKEN_SECRET_B",
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
