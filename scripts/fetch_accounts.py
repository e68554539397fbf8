#!/usr/bin/env python3
"""List accounts to prove the connection works: `python scripts/fetch_accounts.py [--division N] [--top 10]`.

The token comes from the store written by scripts/bootstrap_auth.py (EXACT_TOKEN_PATH + EXACT_ENCRYPTION_KEY,
or EXACT_TOKEN_SECRET_A/_B: read-only, the refresher alone rotates it), or from EXACT_ACCESS_TOKEN. The division
from --division, EXACT_DIVISION, or the user's current division.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--division", type=int, default=None, help="division (default: EXACT_DIVISION or yours)")
    parser.add_argument("--top", type=int, default=10, help="how many accounts to list")
    args = parser.parse_args(argv)

    from exact_online_sdk import ExactOnlineClient, Settings
    from exact_online_sdk.auth.bootstrap import storage_from_env
    from exact_online_sdk.auth.manager import ExactOnlineAuth
    from exact_online_sdk.exceptions import ExactOnlineError

    try:
        settings = Settings.from_env()
        if settings.access_token is not None:
            fixed = settings.access_token.get_secret_value()
            client = ExactOnlineClient(settings=settings, access_token=fixed, division=args.division)
        else:
            # Read-only over the Secrets Manager slots: this script never rotates the refresher's token.
            auth = ExactOnlineAuth(settings, storage=storage_from_env(settings))
            client = ExactOnlineClient(settings=settings, auth=auth, division=args.division)
        with client:
            division = args.division or settings.division
            if division is None:
                me = client.get("current/Me", {"$select": "CurrentDivision"})
                division = int((me[0] if isinstance(me, list) else me)["CurrentDivision"])
            count = 0
            for row in client.iter_rows(
                "crm/Accounts", {"$select": "ID,Code,Name,City"}, division=division, max_rows=args.top
            ):
                count += 1
                print(f"{str(row.get('Code') or '').strip():>18}  {row.get('Name') or ''}  {row.get('City') or ''}")
            print(f"{count} account(s) in division {division}")
    except ExactOnlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
