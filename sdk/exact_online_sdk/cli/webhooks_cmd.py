"""``webhooks list|sync``: see and reconcile the app's webhook subscriptions."""

from __future__ import annotations

import difflib
from typing import Annotated

import typer

from ..webhooks import SUBSCRIPTIONS_PATH, DesiredSubscription, reconcile
from ._common import current_division, fail, handle_errors, open_client, print_rows, want_json
from ._help import Command, Group
from ._text import one_line

webhooks_app = typer.Typer(help="Webhook subscriptions of this app.", cls=Group, no_args_is_help=True)

KNOWN_TOPICS = (
    "Accounts",
    "BankAccounts",
    "CostTransactions",
    "Documents",
    "FinancialTransactions",
    "GoodsDeliveries",
    "Items",
    "PurchaseOrders",
    "Quotations",
    "SalesInvoices",
    "SalesOrders",
    "StockPositions",
    "TimeTransactions",
)
"""The topics Exact's documentation and the libraries that use them name (FACTS.md, webhooks). Exact may offer
more: ``--any-topic`` sends a topic not in this list as given."""

DivisionOpt = Annotated[
    int | None,
    typer.Option("--division", "-d", metavar="CODE", help="Division (default: EXACT_DIVISION, else your current one)"),
]


def register(app: typer.Typer) -> None:
    """Add the webhooks group to ``app``."""
    app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("list", cls=Command)
@handle_errors
def list_(
    division: DivisionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (the default when output is piped)")] = False,
) -> None:
    """The subscriptions that exist now."""
    with open_client(division) as client:
        chosen = current_division(client)
        rows = client.iter_rows(SUBSCRIPTIONS_PATH, division=chosen)
        shown = print_rows(rows, as_json=want_json(as_json), columns=["ID", "Topic", "CallbackURL", "Created"])
    if shown == 0:
        typer.echo(
            f"no webhook subscriptions in division {chosen}; add them with `exact-online webhooks sync`", err=True
        )


def _checked_topics(topics: list[str], any_topic: bool) -> list[str]:
    known = {t.lower(): t for t in KNOWN_TOPICS}
    for topic in topics:
        if topic in KNOWN_TOPICS or any_topic:
            continue
        near = known.get(topic.lower())
        if near is None:
            close = difflib.get_close_matches(topic.lower(), list(known), n=1, cutoff=0.7)
            near = known[close[0]] if close else None
        suggestion = f"did you mean {near}? " if near else ""
        raise fail(
            f"unknown webhook topic {topic!r}",
            hint=f"{suggestion}topics: {', '.join(KNOWN_TOPICS)} (--any-topic sends another as given)",
        )
    return topics


@webhooks_app.command("sync", cls=Command)
@handle_errors
def sync_(
    callback: Annotated[str, typer.Option("--callback", metavar="URL", help="HTTPS URL that receives the deliveries")],
    topic: Annotated[
        list[str], typer.Option("--topic", "-t", metavar="TOPIC", help="Topic to subscribe, e.g. Accounts (repeat)")
    ],
    division: DivisionOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, change nothing")] = False,
    any_topic: Annotated[
        bool, typer.Option("--any-topic", help="Accept a topic that is not in the documented list")
    ] = False,
) -> None:
    """Make the subscriptions for --callback exactly the given topics (creates and deletes; Exact has no update)."""
    desired = [DesiredSubscription(t, callback) for t in _checked_topics(topic, any_topic)]
    with open_client(division) as client:
        plan = reconcile(client, desired, division=current_division(client), dry_run=dry_run)
    verb = "would" if dry_run else "did"
    for sub in plan.create:
        typer.echo(f"{verb} create {one_line(sub.topic)} -> {one_line(sub.callback_url)}")
    for sub_id in plan.delete:
        typer.echo(f"{verb} delete {one_line(str(sub_id))}")
    typer.echo(
        f"{len(plan.keep)} kept, {len(plan.create)} created, {len(plan.delete)} deleted"
        + (" (dry run)" if dry_run else "")
    )
