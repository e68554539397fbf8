"""A sync run in its own process, so the test can kill it with SIGKILL at any point.

argv: base_url token division cursor_file out_file [stop_at]. Prints "page N" after each accepted page.

``stop_at`` is ``<point>:<page>``: at that point of that page the process prints "stopped <point> <page>" and waits
to be killed, so the test kills it exactly there (no timing involved). Points, in the order they happen per page:
``mid-batch`` (half the page's rows written), ``before-save`` (the page is written, its cursor not saved yet),
``mid-save`` (the new cursor file is written and synced but not yet renamed into place) and ``after-save``.
"""

import json
import os
import signal
import sys

from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.sync import FileCursorStore, Sync

base_url, token, division, cursor_file, out_file = sys.argv[1:6]
stop_point, _, stop_page = (sys.argv[6] if len(sys.argv) > 6 else "::").partition(":")
client = ExactOnlineClient(base_url=base_url, access_token=token, division=int(division))
pages = 0


def checkpoint(point, page):
    if point == stop_point and str(page) == stop_page:
        print(f"stopped {point} {page}", flush=True)
        while True:
            signal.pause()  # until the SIGKILL


def write(batch):
    global pages
    half = len(batch.rows) // 2
    with open(out_file, "a", encoding="utf-8") as handle:
        for i, row in enumerate(batch.rows):
            if i == half:
                handle.flush()
                checkpoint("mid-batch", pages + 1)
            handle.write(json.dumps({"kind": batch.kind, "id": row.get("ID") or row.get("EntityKey")}) + "\n")
        handle.flush()
    pages += 1
    print(f"page {pages}", flush=True)


class CheckpointedStore(FileCursorStore):
    def save(self, division, stream, timestamp):
        checkpoint("before-save", pages)
        real_replace = os.replace

        def replace(src, dst):
            checkpoint("mid-save", pages)
            real_replace(src, dst)

        os.replace = replace
        try:
            super().save(division, stream, timestamp)
        finally:
            os.replace = real_replace
        checkpoint("after-save", pages)


Sync(
    client, ["sync/CRM/Accounts"], cursor_store=CheckpointedStore(cursor_file), select=["ID", "Name", "Timestamp"]
).run(write)
print("done", flush=True)
