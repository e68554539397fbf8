"""``python -m demo`` (what ``make demo`` runs)."""

from __future__ import annotations

import sys

from . import print_summary, run_demo, stdout_printer


def main() -> int:
    """Run the demo with its default options; 0 when every invariant held."""
    say = stdout_printer()
    summary = run_demo(say=say)
    print_summary(summary, say)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
