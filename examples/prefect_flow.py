"""A Prefect flow that pages through an Exact Online endpoint in every division, with the SDK's worker client.

The token is read (never refreshed) from the Secrets Manager slots that the stack's refresher keeps fresh:
set EXACT_TOKEN_SECRET_A / EXACT_TOKEN_SECRET_B (the stack's outputs) and give the task role the stack's
read-only worker policy. EXACT_BASE_URL picks the regional host (default https://start.exactonline.nl).

    python examples/prefect_flow.py crm/Accounts
"""

from __future__ import annotations

import os
import sys
from typing import Any

from prefect import flow, get_run_logger, task

from exact_online_sdk.client import ExactOnlineClient


def worker_client() -> ExactOnlineClient:
    """The one line a worker needs: token from the slots, never refreshed here."""
    return ExactOnlineClient.from_secrets_manager(base_url=os.environ.get("EXACT_BASE_URL") or None)


@task(retries=2, retry_delay_seconds=30)
def list_divisions() -> list[int]:
    """The divisions the authorized user may read."""
    with worker_client() as client:
        me = client.get("current/Me")[0]
        rows = client.iter_rows("system/Divisions", {"$select": "Code"}, division=int(me["CurrentDivision"]))
        return sorted(int(row["Code"]) for row in rows)


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
    export_all(sys.argv[1] if len(sys.argv) > 1 else "crm/Accounts")
