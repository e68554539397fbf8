"""``python -m exact_online_sdk.cli``."""

from . import main

main()
