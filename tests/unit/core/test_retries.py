"""Retries: method-aware, jittered, bounded; POST never resent when it may have reached Exact; 401 once."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, RetryPolicy
from exact_online_sdk._core.retry import parse_retry_after
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import AuthenticationError, ServerError, TransportError

T0 = 1_767_225_600.0


class Script:
    """Answers (responses or exceptions) in order, recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


OK = httpx.Response(200, json={"d": {"results": []}})


def make(script: Script, clock: ManualClock, **policy: object) -> ExactOnlineClient:
    return ExactOnlineClient(
        access_token="at-123456",
        division=1,
        transport=httpx.MockTransport(script),
        clock=clock,
        retry=RetryPolicy(random=lambda: 1.0, **policy),  # type: ignore[arg-type]
    )


def test_get_retries_5xx_with_backoff_then_succeeds(clock: ManualClock) -> None:
    script = Script(httpx.Response(503), httpx.Response(500), OK)
    assert make(script, clock).get("crm/Accounts") == []
    assert len(script.requests) == 3
    assert clock.now() - T0 == pytest.approx(0.5 + 1.0)  # 0.5 * 2**(n-1), jitter factor 1.0


def test_jitter_stays_between_half_and_full_backoff() -> None:
    low, high = RetryPolicy(random=lambda: 0.0), RetryPolicy(random=lambda: 1.0)
    assert low.backoff(3) == pytest.approx(1.0)
    assert high.backoff(3) == pytest.approx(2.0)
    assert RetryPolicy(random=lambda: 1.0, backoff_max=3).backoff(10) == 3


def test_retries_stop_at_max_attempts(clock: ManualClock) -> None:
    script = Script(*[httpx.Response(502)] * 3)
    with pytest.raises(ServerError) as info:
        make(script, clock, max_attempts=3).get("crm/Accounts")
    assert len(script.requests) == 3
    assert info.value.context["attempt"] == 3


def test_retries_stop_at_the_overall_deadline(clock: ManualClock) -> None:
    script = Script(*[httpx.Response(503)] * 10)
    with pytest.raises(ServerError):
        make(script, clock, max_attempts=10, deadline=2.0).get("crm/Accounts")
    # sleeps 0.5 s and 1.0 s (1.5 s in all); a third sleep of 2 s would pass the 2 s deadline
    assert len(script.requests) == 3
    assert clock.now() - T0 <= 2.0


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_idempotent_writes_retry_on_read_timeout(clock: ManualClock, method: str) -> None:
    script = Script(httpx.ReadTimeout("timed out"), httpx.Response(204))
    make(script, clock).request(
        method, "crm/Accounts(guid'00000000-0000-0000-0000-000000000001')", json={"A": 1} if method == "PUT" else None
    )
    assert [r.method for r in script.requests] == [method, method]


def test_post_that_may_have_reached_exact_is_not_resent(clock: ManualClock) -> None:
    script = Script(httpx.ReadTimeout("timed out"), OK)
    with pytest.raises(TransportError) as info:
        make(script, clock).post("crm/Accounts", {"Name": "x"})
    assert len(script.requests) == 1
    assert info.value.outcome_unknown
    assert "not resent" in str(info.value)


def test_post_on_5xx_is_not_resent(clock: ManualClock) -> None:
    script = Script(httpx.Response(500), OK)
    with pytest.raises(ServerError):
        make(script, clock).post("crm/Accounts", {"Name": "x"})
    assert len(script.requests) == 1


def test_post_is_retried_when_it_certainly_was_not_sent(clock: ManualClock) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json={"d": {"ID": "1"}}))
    assert make(script, clock).post("crm/Accounts", {"Name": "x"}) == {"ID": "1"}
    assert len(script.requests) == 2


def test_post_retry_can_be_opted_in(clock: ManualClock) -> None:
    script = Script(httpx.ReadTimeout("timed out"), httpx.Response(201, json={"d": {"ID": "1"}}))
    assert make(script, clock, retry_post=True).post("crm/Accounts", {"Name": "x"}) == {"ID": "1"}
    assert len(script.requests) == 2


def test_4xx_is_not_retried(clock: ManualClock) -> None:
    script = Script(httpx.Response(400, json={"error": {"code": "", "message": {"lang": "", "value": "bad"}}}), OK)
    with pytest.raises(Exception, match="bad"):
        make(script, clock).get("crm/Accounts")
    assert len(script.requests) == 1


def test_retry_after_seconds_and_http_date(clock: ManualClock) -> None:
    assert parse_retry_after({"retry-after": "12"}, T0) == 12
    assert parse_retry_after({"retry-after": formatdate(T0 + 30, usegmt=True)}, T0) == pytest.approx(30)
    assert parse_retry_after({"retry-after": "soon"}, T0) is None
    script = Script(httpx.Response(503, headers={"Retry-After": "9"}), OK)
    make(script, clock).get("crm/Accounts")
    assert clock.now() - T0 == pytest.approx(9)


class Rotating:
    """A token source whose store holds a newer token after the first 401."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.unauthorized: list[str] = []

    def get_access_token(self) -> str:
        return self.tokens[0]

    def on_unauthorized(self, rejected_token: str) -> str | None:
        self.unauthorized.append(rejected_token)
        self.tokens.pop(0)
        return self.tokens[0] if self.tokens else None


def test_401_rereads_the_token_once_and_retries(clock: ManualClock) -> None:
    script = Script(httpx.Response(401), OK)
    source = Rotating(["old-token", "new-token"])
    client = ExactOnlineClient(auth=source, division=1, transport=httpx.MockTransport(script), clock=clock)
    assert client.get("crm/Accounts") == []
    assert [r.headers["Authorization"] for r in script.requests] == ["Bearer old-token", "Bearer new-token"]
    assert source.unauthorized == ["old-token"]


def test_second_401_is_final(clock: ManualClock) -> None:
    script = Script(httpx.Response(401), httpx.Response(401), OK)
    source = Rotating(["old-token", "new-token", "third-token"])
    client = ExactOnlineClient(auth=source, division=1, transport=httpx.MockTransport(script), clock=clock)
    with pytest.raises(AuthenticationError):
        client.get("crm/Accounts")
    assert len(script.requests) == 2
    assert source.unauthorized == ["old-token"]


def test_no_credentials_is_a_clear_error(clock: ManualClock) -> None:
    client = ExactOnlineClient(division=1, transport=httpx.MockTransport(Script(OK)), clock=clock)
    with pytest.raises(AuthenticationError, match="no credentials"):
        client.get("crm/Accounts")


def test_unexpected_exception_in_transport_returns_the_reservation(clock: ManualClock) -> None:
    class Boom(Exception):
        pass

    client = make(Script(Boom()), clock)
    with pytest.raises(Boom):
        client.get("crm/Accounts")
    assert client.rate_limits(1).in_flight == 0
