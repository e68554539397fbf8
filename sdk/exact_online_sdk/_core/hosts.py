"""Exact Online's regional hosts: the one place the default host is written.

Public as :data:`exact_online_sdk.config.DEFAULT_BASE_URL` and :data:`exact_online_sdk.config.REGION_HOSTS`. It lives
in this dependency-free module so the client can use the default without importing pydantic-settings.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_BASE_URL", "REGION_HOSTS"]

REGION_HOSTS: Final[dict[str, str]] = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "es": "https://start.exactonline.es",
    "fr": "https://start.exactonline.fr",
}
"""``EXACT_REGION`` -> base URL."""

DEFAULT_BASE_URL: Final = REGION_HOSTS["nl"]
"""The host used when neither ``EXACT_BASE_URL`` nor ``EXACT_REGION`` is set (the Dutch one)."""
