"""Integrations kept for the seed package's import paths (``exact_online_sdk.contrib.aws``)."""
