"""``make demo``: the whole system offline, on one simulated clock, in a few seconds.

Not part of the installed package (it needs moto, boto3 and the refresher Lambda's source in ``lambdas/``): run it
from a checkout with ``make demo`` or ``python -m demo``.

What runs (everything on 127.0.0.1, stopped at the end):

1. the Exact Online emulator and a moto Secrets Manager server;
2. the OAuth bootstrap: authorization (auto-consent) and code exchange, writing generation 1 into the two secret
   slots (as ``exact-online auth login`` or the bootstrap Lambda do);
3. the real refresher Lambda handler (``lambdas/refresher/handler.py``), invoked at every simulated minute as the
   EventBridge schedule would, rotating the token about every ten minutes;
4. a read-only worker (``ExactOnlineClient.from_secrets_manager``) syncing accounts, sales invoices and transaction
   lines incrementally, round after round, while business activity changes and deletes records between rounds.

Time is a :class:`~exact_online_sdk.clock.ManualClock` shared by all of them and moved only by the scenario (and by
whoever sleeps on it), so a run is the same every time. It ends with a summary and exits non-zero if an invariant
broke (a 429, a 401 in a worker, a broken token chain).
"""

from __future__ import annotations

from .scenario import DemoOptions, run_demo
from .summary import DemoSummary, print_summary, stdout_printer

__all__ = ["DemoOptions", "DemoSummary", "print_summary", "run_demo", "stdout_printer"]
