"""Names of the refresher's CloudWatch metrics: the one place the refresher and the CDK alarms agree on them."""

from __future__ import annotations

from typing import Final

__all__ = [
    "AWAITING_CONSENT",
    "CHAIN_BROKEN",
    "CORRUPT_SLOTS",
    "DIMENSION_REASON",
    "DIMENSION_SLOT",
    "LOST_ANSWER_RESENDS",
    "MALFORMED_ANSWERS",
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
"""Gauge 0/1, every run: 1 while no chain is stored yet (before the first consent). A quiet, visible state: never
alarmed, and the run returns normally (nothing lands in the failure queue)."""
CHAIN_BROKEN: Final = "ChainBroken"
"""Gauge 0/1, every run: 1 while the stored generation was finally refused by Exact (reused, expired, invalid
client, or a lost answer whose one resend got no answer either) and no newer consent is stored. Alarmed: re-consent."""
TOKEN_CALLS_TODAY: Final = "TokenCallsToday"
"""Gauge: token-endpoint calls this UTC day (Exact allows about 200 per app and user)."""
LOST_ANSWER_RESENDS: Final = "LostAnswerResends"
"""Count: a refresh whose answer was lost was resent with the same refresh token (at most once per generation)."""
CORRUPT_SLOTS: Final = "CorruptSlots"
"""Gauge 0-2, every run: slots whose value does not parse (treated as empty; the other slot serves). Alarmed."""
MALFORMED_ANSWERS: Final = "MalformedAnswers"
"""Count: a successful refresh answer was odd (no readable ``expires_in``...); it was stored anyway. Alarmed."""

DIMENSION_REASON: Final = "Reason"
DIMENSION_SLOT: Final = "Slot"

REASONS: Final = (
    "NoToken",  # the slots hold no token: run the bootstrap
    "TooEarly",  # Exact refused: TooEarlyToRefreshTokens
    "RefreshTokenReused",  # "Old refresh token used": the chain is broken, re-consent needed
    "RefreshTokenExpired",  # refresh token older than 30 days: re-consent needed
    "InvalidClient",  # client id/secret wrong
    "OutcomeUnknown",  # no answer: resent once (at once or next run); lost twice: ChainBroken
    "ServerError",  # Exact's token endpoint answered 5xx (nothing rotated): retried next run
    "Unreachable",  # the token request never reached Exact (connect error): retried next run
    "StoreFailed",  # the new token could not be written to the slots (rescue copy kept)
    "StoreUnreadable",  # the slots could not be read
    "ErrorBudget",  # 8 token-endpoint errors within the hour: no call until the hour passes (Exact blocks at 10)
    "CallBudget",  # the day's token-call budget is spent: no call until 00:00 UTC (re-consent keeps its reserve)
    "Deferred",  # what did not fit the invocation's remaining time waits for the next run
    "Other",
)
"""Values of the ``Reason`` dimension of :data:`REFRESH_FAILURES`."""
