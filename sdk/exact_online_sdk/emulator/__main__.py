"""``python -m exact_online_sdk.emulator --port 0``: prints ``EMULATOR_BASE_URL=...`` and serves."""

from .cli_args import main

main()
