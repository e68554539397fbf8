"""The error hierarchy: seed names, keyword construction without a response, text without secrets."""

from __future__ import annotations

import pytest

from exact_online_sdk import exceptions as ex


def test_hierarchy_and_seed_names() -> None:
    for cls in (
        ex.AuthenticationError,
        ex.ForbiddenError,
        ex.NotFoundError,
        ex.BadRequestError,
        ex.RateLimitError,
        ex.ServerError,
        ex.TransportError,
        ex.UnexpectedResponseError,
    ):
        assert issubclass(cls, ex.APIError)
    assert issubclass(ex.DailyRateLimitExceeded, ex.RateLimitError)
    assert issubclass(ex.APIError, ex.ExactOnlineError)
    for cls in (ex.ConfigError, ex.InvalidPathError, ex.ODataError):
        assert issubclass(cls, ValueError)
    assert issubclass(ex.PaginationError, ex.ExactOnlineError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ex.BadRequestError),
        (401, ex.AuthenticationError),
        (403, ex.ForbiddenError),
        (404, ex.NotFoundError),
        (422, ex.BadRequestError),
        (429, ex.RateLimitError),
        (500, ex.ServerError),
        (503, ex.ServerError),
        (418, ex.APIError),
    ],
)
def test_status_mapping(status: int, cls: type[ex.APIError]) -> None:
    assert ex.error_class_for_status(status) is cls


def test_subclassable_without_a_response() -> None:
    class TokenExpired(ex.AuthenticationError):
        default_message = "the token expired"

    err = TokenExpired()
    assert str(err) == "the token expired"
    assert err.status_code is None
    assert err.context == {}
    assert err.request_id is None
    assert not err.retryable
    err2 = TokenExpired("refresh failed: refresh_token=abc123", context={"request_id": "r1"}, reason="Too early")
    assert "abc123" not in str(err2)
    assert str(err2) == "refresh failed: refresh_token=*** (Reason: Too early) [request_id=r1]"


def test_rate_limit_errors_carry_reset_time() -> None:
    err = ex.RateLimitError(reset_at=1_767_225_660.0, status_code=429)
    assert err.retryable
    assert err.limit == "minutely"
    assert err.reset_datetime is not None
    assert err.reset_datetime.isoformat() == "2026-01-01T00:01:00+00:00"
    daily = ex.DailyRateLimitExceeded(reset_at=1_767_312_000.0, limit="ignored")
    assert daily.limit == "daily"
    assert not daily.retryable
    assert "resets at 2026-01-02T00:00:00Z" in str(daily)
    assert ex.RateLimitError().reset_datetime is None


def test_url_and_message_are_redacted() -> None:
    err = ex.TransportError(
        "failed: Bearer abc.def",
        method="post",
        url="https://u:p@h.example/cb?code=xyz&state=1",
        outcome_unknown=True,
    )
    assert err.url == "https://h.example/cb?code=***&state=1"
    assert "abc.def" not in str(err)
    assert "xyz" not in repr(err)
    assert err.method == "POST"
    assert err.outcome_unknown
    perr = ex.PaginationError("loop", url="https://h/x?access_token=zzz", pages=3)
    assert perr.url == "https://h/x?access_token=***"
    assert perr.pages == 3
    assert ex.ConfigError("bad", variable="EXACT_X").variable == "EXACT_X"
