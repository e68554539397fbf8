#!/usr/bin/env python3
"""First login to Exact Online: writes generation 1 of the token into the configured store.

    python scripts/bootstrap_auth.py --mode manual      # print the URL, paste the callback URL back
    python scripts/bootstrap_auth.py --mode listener    # local HTTPS listener on the redirect URI

Needs EXACT_CLIENT_ID, EXACT_CLIENT_SECRET, EXACT_REDIRECT_URI and a store: EXACT_TOKEN_PATH +
EXACT_ENCRYPTION_KEY (encrypted file) or EXACT_TOKEN_SECRET_A/_B (AWS Secrets Manager). The listener also needs
EXACT_LISTENER_CERT_PATH and EXACT_LISTENER_KEY_PATH. Same as `exact-online auth login`.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("manual", "listener"), default="manual")
    parser.add_argument("--port", type=int, default=None, help="listener port (default: the redirect URI's)")
    parser.add_argument("--timeout", type=float, default=300.0, help="listener: seconds to wait for the callback")
    parser.add_argument("--open", action="store_true", help="listener: open a browser")
    args = parser.parse_args(argv)

    from exact_online_sdk.auth.bootstrap import (
        listener_login,
        login_config_problems,
        manual_login,
        storage_from_env,
    )
    from exact_online_sdk.auth.manager import ExactOnlineAuth
    from exact_online_sdk.config import Settings
    from exact_online_sdk.exceptions import ExactOnlineError

    try:
        settings = Settings.from_env()
        missing = login_config_problems(settings, args.mode)
        if missing:
            print(f"error: missing configuration: {', '.join(missing)}", file=sys.stderr)
            return 2
        # The login is the one place besides the refresher that writes the token store.
        auth = ExactOnlineAuth(settings, storage=storage_from_env(settings, writable=True))
        if args.mode == "manual":
            token = manual_login(auth)
        else:
            token = listener_login(auth, port=args.port, timeout=args.timeout, open_browser=args.open)
    except ExactOnlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (KeyboardInterrupt, EOFError):
        print("interrupted", file=sys.stderr)
        return 130
    print(f"Logged in: generation {token.generation} stored; expires in {token.expires_in(auth.clock.now()):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
