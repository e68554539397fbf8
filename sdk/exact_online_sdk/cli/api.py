"""``whoami``, ``divisions`` and ``get``: read Exact from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..registry import registry
from ._common import current_division, handle_errors, open_client, print_rows, want_json
from ._help import Command

DivisionOpt = Annotated[
    int | None,
    typer.Option("--division", "-d", metavar="CODE", help="Division (default: EXACT_DIVISION, else your current one)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON lines (the default when output is piped)")]


def register(app: typer.Typer) -> None:
    """Add the read commands to ``app``."""
    app.command("whoami", cls=Command)(whoami)
    app.command("divisions", cls=Command)(divisions)
    app.command("get", cls=Command)(get)


@handle_errors
def whoami(as_json: JsonOpt = False) -> None:
    """Who the token belongs to, and the current division."""
    with open_client() as client:
        rows = client.get(
            "current/Me", {"$select": "UserID,UserName,FullName,Email,CurrentDivision,DivisionCustomerName,Language"}
        )
    print_rows(list(rows), as_json=want_json(as_json))


@handle_errors
def divisions(division: DivisionOpt = None, as_json: JsonOpt = False) -> None:
    """The divisions (companies) the user can reach."""
    with open_client(division) as client:
        rows = client.iter_rows(
            "system/Divisions",
            {"$select": "Code,Description,Hid,Country,Currency,Status"},
            division=current_division(client),
        )
        print_rows(rows, as_json=want_json(as_json), columns=["Code", "Description", "Hid", "Country", "Currency"])


@handle_errors
def get(
    path: Annotated[str, typer.Argument(metavar="PATH", help="Endpoint path, e.g. crm/Accounts or current/Me")],
    filter_: Annotated[
        str | None, typer.Option("--filter", metavar="EXPR", help="OData $filter, e.g. \"Name eq 'Acme'\"")
    ] = None,
    select: Annotated[str | None, typer.Option("--select", metavar="FIELDS", help="Comma-separated fields")] = None,
    top: Annotated[int | None, typer.Option("--top", min=0, metavar="N", help="At most N rows in all")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Read every page (follow __next to the end)")] = False,
    division: DivisionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """GET any endpoint: one page by default (and a note when there is more), every page with --all."""
    params: dict[str, Any] = {}
    if filter_:
        params["$filter"] = filter_
    if select:
        params["$select"] = select
    if top is not None:
        params["$top"] = top
    with open_client(division) as client:
        if _needs_division(path):
            current_division(client)
        if all_pages:
            print_rows(client.iter_rows(path, params), as_json=want_json(as_json))
            return
        result = client.get(path, params)
        rows = result if isinstance(result, list) else [result]
        print_rows(rows, as_json=want_json(as_json))
        if getattr(result, "has_more", False):
            typer.echo(f"note: {len(rows)} rows shown, Exact has more; add --all to read every page", err=True)


def _needs_division(path: str) -> bool:
    """False for the few endpoints without a division (current/Me, system/Users...); unknown paths are given one,
    as every endpoint Exact adds is division-scoped. A path the client refuses fails here, before any call."""
    from .._core.request import _check_path

    spec = registry().get(_check_path(path))
    return spec is None or spec.division_scoped
