"""Names of the refresher's CloudWatch metrics: the one place the refresher and the CDK alarms agree on them."""

from __future__ import annotations

from typing import Final

__all__ = [
    "AWAITING_CONSENT",
    "CHAIN_BROKEN",
    "DIMENSION_REASON",
    "DIMENSION_SLOT",
    "LOST_ANSWER_RESENDS",
    "NAMESPACE",
    "REASONS",
    "REFRESHES",
    "REFRESH_FAILURES",
    "RESCUE_WRITES",
    "SERVICE",
    "SLOT_WRITES",
    "TOKEN_CALLS_TODAY",
    "TOKEN_SECONDS_LEFT",
]

NAMESPACE: Final = "ExactOnline/TokenRefresher"
SERVICE: Final = "exact-token-refresher"

REFRESHES: Final = "Refreshes"
"""Count: one per token successfully refreshed at Exact and stored."""
REFRESH_FAILURES: Final = "RefreshFailures"
"""Count, dimension ``Reason`` (one of :data:`REASONS`)."""
TOKEN_SECONDS_LEFT: Final = "TokenSecondsLeft"
"""Gauge (Seconds): validity left of the newest stored token, emitted on every run (missing data = alarm)."""
SLOT_WRITES: Final = "SlotWrites"
"""Count, dimension ``Slot`` ("A" or "B"): PutSecretValue calls that stored a new generation."""
RESCUE_WRITES: Final = "RescueWrites"
"""Count: the rescue store was written (a token could not be stored in the slots, or an outcome is unknown)."""
AWAITING_CONSENT: Final = "AwaitingConsent"
"""Gauge 0/1: no token chain stored yet (before the first consent). A quiet, visible state: never alarmed."""
CHAIN_BROKEN: Final = "ChainBroken"
"""Gauge 0/1: the stored generation was finally refused and no newer consent exists yet (alarmed)."""
TOKEN_CALLS_TODAY: Final = "TokenCallsToday"
"""Gauge: calls to Exact's token endpoint this UTC day (Exact allows about 200 per user)."""
LOST_ANSWER_RESENDS: Final = "LostAnswerResends"
"""Count: refresh requests resent once because the answer to the first was lost."""

DIMENSION_REASON: Final = "Reason"
DIMENSION_SLOT: Final = "Slot"

REASONS: Final = (
    "NoToken",  # the slots hold no token: run the bootstrap
    "TooEarly",  # Exact refused: TooEarlyToRefreshTokens
    "RefreshTokenReused",  # "Old refresh token used": the chain is broken, re-consent needed
    "RefreshTokenExpired",  # refresh token older than 30 days: re-consent needed
    "InvalidClient",  # client id/secret wrong
    "OutcomeUnknown",  # the token request timed out: the refresh token may be spent; never resent
    "ServerError",  # Exact's token endpoint answered 5xx (nothing rotated): retried next run
    "Unreachable",  # the token request never reached Exact (connect error): retried next run
    "StoreFailed",  # the new token could not be written to the slots (rescue copy kept)
    "StoreUnreadable",  # the slots could not be read
    "Other",
)
"""Values of the ``Reason`` dimension of :data:`REFRESH_FAILURES`."""
