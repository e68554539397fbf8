"""A sync run in its own process, so the test can kill it with SIGKILL at any point.

argv: base_url token division cursor_file out_file. Prints "page N" after each accepted page.
"""

import json
import sys

from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.sync import FileCursorStore, Sync

base_url, token, division, cursor_file, out_file = sys.argv[1:6]
client = ExactOnlineClient(base_url=base_url, access_token=token, division=int(division))
pages = 0


def write(batch):
    global pages
    with open(out_file, "a", encoding="utf-8") as handle:
        for row in batch.rows:
            handle.write(json.dumps({"kind": batch.kind, "id": row.get("ID") or row.get("EntityKey")}) + "\n")
        handle.flush()
    pages += 1
    print(f"page {pages}", flush=True)


Sync(client, ["sync/CRM/Accounts"], cursor_store=FileCursorStore(cursor_file), select=["ID", "Name", "Timestamp"]).run(
    write
)
print("done", flush=True)
