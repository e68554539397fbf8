"""The decisions of one token refresh, as a sans-IO generator shared by the blocking and the asyncio shell.

:func:`refresh_flow` yields actions (:class:`LoadStored`, :class:`CallExact`, :class:`SaveToken`, :class:`Pause`)
and receives their results; errors of an action are thrown into it. :class:`~.manager.ExactOnlineAuth` drives it
from ``refresh``/``get_token`` (blocking) and ``arefresh``/``aget_token`` (asyncio) after taking its locks, so both
flavours decide the same by construction (see tests/unit/auth/test_refresh_shells.py).

Rules (FACTS §1.3, aws/NOTES.md "Crash safety of a refresh"):
- refresh only when the stored token is ``min_refresh_age + skew_margin`` old on Exact's clock;
- a lost answer (:class:`~.errors.RefreshOutcomeUnknown`) is resent with the same refresh token exactly once;
  "Old refresh token used" after that resend means the rotation happened and its answer was lost: re-consent;
- after a too-early refusal the still-valid token is kept and Exact is not asked again for a while;
- the new pair is stored at once (retried); a pair that could not be stored is kept for the next call.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    InvalidClient,
    OAuthError,
    RefreshOutcomeUnknown,
    RefreshTokenExpired,
    RefreshTokenReused,
    TokenUnavailable,
    TooEarlyToRefresh,
)
from .oauth import TokenAnswer
from .store import GenerationConflict, TokenStoreError
from .timebase import ServerClock
from .token import Token, utc_day

__all__ = [
    "CallExact",
    "LoadStored",
    "Pause",
    "RefreshMemory",
    "RefreshPolicy",
    "SaveToken",
    "refresh_flow",
]

log = logging.getLogger("exact_online_sdk.auth.refresh_flow")


@dataclass(frozen=True, slots=True)
class LoadStored:
    """Action: read the store (result: Token or None)."""


@dataclass(frozen=True, slots=True)
class CallExact:
    """Action: send the refresh of ``token`` (result: :class:`~.oauth.TokenAnswer`; errors are thrown in)."""

    token: Token
    resend: bool = False


@dataclass(frozen=True, slots=True)
class SaveToken:
    """Action: store ``token`` if the store holds ``expected`` (result: None; errors are thrown in)."""

    token: Token
    expected: int


@dataclass(frozen=True, slots=True)
class Pause:
    """Action: sleep ``seconds`` on the clock."""

    seconds: float


RefreshAction = LoadStored | CallExact | SaveToken | Pause


@dataclass(frozen=True)
class RefreshPolicy:
    """When and how :class:`~.manager.ExactOnlineAuth` refreshes (seconds)."""

    min_refresh_age: float = 570.0
    skew_margin: float = 5.0
    too_early_backoff: float = 10.0
    resend_pause: float = 2.0
    save_attempts: int = 3
    save_retry_delay: float = 0.05


@dataclass
class RefreshMemory:
    """What one token source remembers between refreshes (per instance; guarded by its lock)."""

    unknown: tuple[str, int] | None = None
    """(chain, generation) whose refresh was lost and already resent once: never sent again automatically."""
    refused: tuple[tuple[str, int], OAuthError] | None = None
    """A final refusal (reused, expired, invalid client) of (chain, generation): not sent again until it changes."""
    not_before: float = 0.0
    pending_save: Token | None = None
    writer: str = ""
    anomalies: list[str] = field(default_factory=list)


def refresh_due_at(token: Token, policy: RefreshPolicy) -> float:
    """The earliest Exact time a refresh of ``token`` is sent (the 570 s rule plus the skew margin)."""
    return token.issued_at + policy.min_refresh_age + policy.skew_margin


def fresh_enough(token: Token, now: float, policy: RefreshPolicy, memory: RefreshMemory) -> bool:
    """True when ``token`` is served as is: not due yet, or kept for a while after a too-early refusal."""
    if now < refresh_due_at(token, policy):
        return True
    return now < memory.not_before and token.expires_in(now) > 0


def refresh_flow(
    memory: RefreshMemory, clock: ServerClock, policy: RefreshPolicy, *, force: bool, retry_unknown: bool
) -> Generator[RefreshAction, Any, Token]:
    """One refresh under the caller's locks: returns the token to use (see module doc)."""
    current: Token | None = yield LoadStored()
    if current is None:
        raise TokenUnavailable("no token is stored yet")
    clock.adopt(current.clock_offset)
    if not force and fresh_enough(current, clock.now(), policy, memory):
        return current  # another thread or process rotated it while we waited for the locks
    key = (current.chain_id, current.generation)
    if memory.refused is not None and memory.refused[0] == key and not retry_unknown:
        # Exact refused this generation for good: asking again only spends its error and call quotas.
        if current.expires_in(clock.now()) > 0:
            return current
        raise memory.refused[1]
    if memory.unknown == key and not retry_unknown:
        # Lost twice: the resend is spent. The stored access token still works until it expires.
        if current.expires_in(clock.now()) > 0:
            return current
        raise RefreshOutcomeUnknown(
            f"the refresh of generation {current.generation} got no answer twice (sent, then resent once); "
            "not sending it again",
            generation=current.generation,
        )
    calls = 0
    resend = retry_unknown and memory.unknown == key
    while True:
        calls += 1
        try:
            answer: TokenAnswer = yield CallExact(current, resend=resend)
        except RefreshOutcomeUnknown:
            after: Token | None = yield LoadStored()
            if after is not None and after.generation > current.generation:
                memory.unknown = None
                return after
            if resend:
                memory.unknown = key
                log.error("the resent refresh of generation %d got no answer either", current.generation)
                raise
            log.warning("the refresh of generation %d got no answer; resending it once", current.generation)
            memory.unknown = key  # recorded before the resend: it is never sent a third time
            resend = True
            yield Pause(policy.resend_pause)
            continue
        except RefreshTokenReused as exc:
            after = yield LoadStored()
            if after is not None and after.generation > current.generation:
                return after  # another process rotated it first (a lost race, not a broken chain)
            if resend:
                exc = RefreshTokenReused(
                    f"the resent refresh of generation {current.generation} was refused as already used: Exact "
                    "rotated it but its answer was lost",
                    oauth_error=exc.oauth_error,
                    status_code=exc.status_code,
                )
            memory.refused = (key, exc)
            raise exc from None
        except (RefreshTokenExpired, InvalidClient) as exc:
            memory.refused = (key, exc)
            raise
        except TooEarlyToRefresh:
            if force:
                raise
            return _after_too_early(current, clock, policy, memory)
        break
    memory.unknown = None
    memory.refused = None
    memory.anomalies = list(answer.anomalies)
    now = clock.now()
    day = utc_day(now)
    new = answer.token.replace(
        generation=current.generation + 1,
        chain_id=current.chain_id,
        writer=memory.writer or answer.token.writer,
        calls_day=day,
        calls_today=current.calls_on(day) + calls,
    )
    return (yield from _persist(memory, policy, current, new))


def _after_too_early(current: Token, clock: ServerClock, policy: RefreshPolicy, memory: RefreshMemory) -> Token:
    now = clock.now()
    if current.expires_in(now) <= 0:
        raise TooEarlyToRefresh(
            "Exact refused the refresh as too early although the stored token has expired: check the clocks"
        )
    log.warning("Exact refused the refresh as too early; keeping the current token (clock skew?)")
    memory.not_before = now + policy.too_early_backoff
    return current


def _persist(
    memory: RefreshMemory, policy: RefreshPolicy, current: Token, new: Token
) -> Generator[RefreshAction, Any, Token]:
    # The old refresh token is dead from now on: the new pair must reach the store, or nothing works later.
    for attempt in range(1, policy.save_attempts + 1):
        try:
            yield SaveToken(new, current.generation)
        except GenerationConflict:
            log.error("another writer stored a token while this refresh ran; keeping the stored one")
            memory.pending_save = None
            raise
        except TokenStoreError:
            if attempt == policy.save_attempts:
                memory.pending_save = new
                log.error("could not store the rotated token (generation %d); will retry", new.generation)
                raise
            yield Pause(policy.save_retry_delay * attempt)
        else:
            memory.pending_save = None
            return new
    raise AssertionError("unreachable")  # pragma: no cover
