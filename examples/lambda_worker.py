"""A Lambda worker handler that calls Exact Online with the token the refresher keeps in Secrets Manager.

Deploy with the stack's SDK layer and the read-only worker policy; set EXACT_TOKEN_SECRET_A/_B (and
EXACT_BASE_URL for a non-Dutch host). The client is built once per container; each invocation reads the token
through the provider's short cache (bounded by the token's life) and never refreshes it.

Event: {"path": "crm/Accounts", "division": 123, "select": "ID,Name", "max_rows": 100}
"""

from __future__ import annotations

import json
import os
from typing import Any

from exact_online_sdk.client import ExactOnlineClient

_client: ExactOnlineClient | None = None


def client() -> ExactOnlineClient:
    """The container's worker client (created on first use)."""
    global _client
    if _client is None:
        _client = ExactOnlineClient.from_secrets_manager(base_url=os.environ.get("EXACT_BASE_URL") or None)
    return _client


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Read up to ``max_rows`` rows of ``path``; answers the rows and how many pages it took."""
    path = str(event.get("path") or "crm/Accounts")
    division = event.get("division")
    params = {"$select": str(event.get("select") or "ID")}
    pages, rows = 0, []
    for page in client().iter_pages(
        path, params, division=int(division) if division else None, max_rows=int(event.get("max_rows") or 1000)
    ):
        pages += 1
        rows.extend(page.rows)
    # Decimal and datetime values become strings so the answer is JSON.
    return {"path": path, "pages": pages, "count": len(rows), "rows": json.loads(json.dumps(rows, default=str))}
