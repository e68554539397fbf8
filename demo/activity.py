"""Business activity between two sync rounds, and the worker's sink that counts what reached it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.sync import SyncBatch

__all__ = ["ENTITIES", "KEY", "SELECT", "Activity", "Sink", "business_activity"]

ENTITIES = {
    "sync/CRM/Accounts": "accounts",
    "sync/SalesInvoice/SalesInvoices": "sales invoices",
    "sync/Financial/TransactionLines": "transaction lines",
}
SELECT = {
    "sync/CRM/Accounts": ["ID", "Code", "Name", "City", "Timestamp"],
    "sync/SalesInvoice/SalesInvoices": ["InvoiceID", "InvoiceNumber", "AmountDC", "Description", "Timestamp"],
    "sync/Financial/TransactionLines": ["ID", "EntryNumber", "AmountDC", "GLAccountCode", "Timestamp"],
}
KEY = {"sync/SalesInvoice/SalesInvoices": "InvoiceID"}


@dataclass(frozen=True, slots=True)
class Activity:
    """What one round of business activity did."""

    created: int = 0
    updated: int = 0
    deleted: int = 0

    def describe(self) -> str:
        return f"{self.created} new, {self.updated} changed, {self.deleted} deleted"


def business_activity(client: ExactOnlineClient, rng: random.Random, division: int) -> Activity:
    """New, changed and deleted accounts and invoices, as users of Exact would make them between two rounds."""
    accounts = list(client.get("crm/Accounts", {"$select": "ID", "$top": 60}, division=division))
    invoices = list(client.get("salesinvoice/SalesInvoices", {"$select": "InvoiceID", "$top": 60}, division=division))
    for _ in range(2):
        client.post(
            "crm/Accounts", {"Name": f"New customer {rng.randrange(10**6)}", "City": "Delft"}, division=division
        )
    for row in rng.sample(accounts, 4):
        client.put(
            f"crm/Accounts(guid'{row['ID']}')", {"City": rng.choice(["Utrecht", "Gent", "Leeds"])}, division=division
        )
    for row in rng.sample(invoices, 2):
        client.put(
            f"salesinvoice/SalesInvoices(guid'{row['InvoiceID']}')", {"Description": "corrected"}, division=division
        )
    victims = [("crm/Accounts", r["ID"]) for r in rng.sample(accounts, 2)]
    victims += [("salesinvoice/SalesInvoices", r["InvoiceID"]) for r in rng.sample(invoices, 1)]
    for path, key in victims:
        client.delete(f"{path}(guid'{key}')", division=division)
    return Activity(created=2, updated=6, deleted=len(victims))


@dataclass(slots=True)
class Sink:
    """The worker's warehouse, reduced to what the story needs: the keys seen and the deletions received."""

    seen: dict[str, set[str]] = field(default_factory=lambda: {path: set() for path in ENTITIES})
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))

    def __call__(self, batch: SyncBatch) -> None:
        if batch.kind == "deletions":
            if batch.endpoint in self.deleted:  # an empty sync/Deleted page carries only the cursor
                self.deleted[batch.endpoint] += len(batch.rows)
            return
        key = KEY.get(batch.endpoint, "ID")
        self.seen[batch.endpoint].update(str(row[key]) for row in batch.rows)

    def keys(self) -> int:
        return sum(len(keys) for keys in self.seen.values())

    def deletions(self) -> int:
        return sum(self.deleted.values())
