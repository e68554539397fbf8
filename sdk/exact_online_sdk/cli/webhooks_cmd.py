"""``webhooks list|sync``: see and reconcile the app's webhook subscriptions."""

from __future__ import annotations

from typing import Annotated

import typer

from ..webhooks import SUBSCRIPTIONS_PATH, DesiredSubscription, reconcile
from ._common import current_division, handle_errors, open_client, print_rows, want_json

webhooks_app = typer.Typer(help="Webhook subscriptions of this app.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the webhooks group to ``app``."""
    app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("list")
@handle_errors
def list_(
    division: Annotated[int | None, typer.Option("--division", "-d")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The subscriptions that exist now."""
    with open_client(division) as client:
        rows = client.iter_rows(SUBSCRIPTIONS_PATH, division=current_division(client))
        print_rows(rows, as_json=want_json(as_json), columns=["ID", "Topic", "CallbackURL", "Created"])


@webhooks_app.command("sync")
@handle_errors
def sync_(
    callback: Annotated[str, typer.Option("--callback", help="HTTPS URL that receives the deliveries")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to subscribe (repeat)")],
    division: Annotated[int | None, typer.Option("--division", "-d")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, change nothing")] = False,
) -> None:
    """Make the subscriptions for --callback exactly the given topics (creates and deletes; Exact has no update)."""
    desired = [DesiredSubscription(t, callback) for t in topic]
    with open_client(division) as client:
        plan = reconcile(client, desired, division=current_division(client), dry_run=dry_run)
    verb = "would" if dry_run else "did"
    for sub in plan.create:
        typer.echo(f"{verb} create {sub.topic} -> {sub.callback_url}")
    for sub_id in plan.delete:
        typer.echo(f"{verb} delete {sub_id}")
    typer.echo(
        f"{len(plan.keep)} kept, {len(plan.create)} created, {len(plan.delete)} deleted"
        + (" (dry run)" if dry_run else "")
    )
